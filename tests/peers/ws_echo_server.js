// A Node.js `ws` echo server on 127.0.0.1 for the test suite.
// Prints its port as the first line; echoes with the same type; a few text
// commands make it act ("kick" closes 4001, "big N" sends N bytes, "frag"
// sends a fragmented text message). Exits on its own after a bound.
const { WebSocketServer } = require('ws');

const lifetimeMs = Number(process.argv[2] || 120000);
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: true,
  handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
});

wss.on('listening', () => {
  process.stdout.write(`${wss.address().port}\n`);
});

wss.on('connection', (socket, request) => {
  socket.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (text === 'kick') {
      socket.close(4001, 'kicked');
    } else if (text === 'headers') {
      socket.send(JSON.stringify(request.headers));
    } else if (text && text.startsWith('big ')) {
      socket.send(Buffer.alloc(Number(text.slice(4)), 0x61), { binary: false });
    } else if (text === 'frag') {
      socket.send('part one, ', { fin: false });
      socket.send('part two, ', { fin: false });
      socket.send('end', { fin: true });
    } else {
      socket.send(data, { binary: isBinary });
    }
  });
  socket.on('close', (code, reason) => {
    process.stdout.write(`closed ${code} ${reason}\n`);
  });
});

setTimeout(() => process.exit(0), lifetimeMs).unref();
