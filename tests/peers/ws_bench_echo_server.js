// A Node.js `ws` echo server on 127.0.0.1 for the benchmarks: a peer fast
// enough that the client is what gets measured.
// Usage: node ws_bench_echo_server.js [lifetimeMs]
// Prints its port as the first line and echoes every message with its type.
// No compression; messages up to 256 MiB. Exits on its own after lifetimeMs
// (default one hour) or as soon as its standard input closes, so a benchmark
// that dies leaves no server behind.
const { WebSocketServer } = require('ws');

const lifetimeMs = Number(process.argv[2] || 3600000);
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: false,
  maxPayload: 256 * 1024 * 1024,
  clientTracking: false,
});

wss.on('listening', () => {
  process.stdout.write(`${wss.address().port}\n`);
});

wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => {
    socket.send(data, { binary: isBinary });
  });
  socket.on('error', () => socket.terminate());
});

setTimeout(() => process.exit(0), lifetimeMs).unref();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
