"""Peers for the benchmarks, each run as its own process on 127.0.0.1.

``python -m benchmarks.peers echo``: a plain ``websockets`` echo server, the
reference our embedded server is measured against.

``python -m benchmarks.peers flood --count N --rate R --size S``: sends every
client that connects exactly ``N`` text messages of ``S`` bytes, ``R`` per
second (0: as fast as the connection takes them), then closes with 1000 and
the reason ``"sent N"``, so a client can check that it counted all of them.

Both print their URL as the first line of standard output and stop on their
own after ``--lifetime`` seconds, so a crashed benchmark leaves no server behind.

:func:`start_node_echo` starts the Node.js ``ws`` echo server of
``tests/peers/ws_bench_echo_server.js`` (``ws`` 8.x, no compression), the peer
the clients are measured against: it echoes faster than any Python server, so
the client is what limits a run. It needs ``node`` and ``npm``; ``ws`` is
installed from the npm registry into ``tests/peers`` on first use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

__all__ = [
    "NODE_PEERS",
    "Peer",
    "node_versions",
    "start_embedded_echo",
    "start_node_echo",
    "start_peer",
]

_ROOT = pathlib.Path(__file__).parent.parent  # so "-m benchmarks..." works from any folder
#: The folder of the Node.js peers (its package.json names ``ws``).
NODE_PEERS = _ROOT / "tests" / "peers"


async def _echo(ws: ServerConnection) -> None:
    with contextlib.suppress(Exception):
        async for message in ws:
            await ws.send(message)


def _flood_handler(count: int, rate: float, size: int) -> Any:
    body = "x" * max(size - 7, 0)

    async def flood(ws: ServerConnection) -> None:
        start = time.monotonic()
        sent = 0
        try:
            while sent < count:
                # Pace by elapsed time, in ticks of ~5 ms, so the rate holds on
                # average even when one tick runs late.
                due = count if rate <= 0 else min(count, int((time.monotonic() - start) * rate) + 1)
                while sent < due:
                    await ws.send(f"{sent % 10_000_000:07d}{body}")
                    sent += 1
                if sent < count:
                    await asyncio.sleep(0.005)
            await ws.close(1000, f"sent {sent}")
        except Exception:
            return

    return flood


async def _serve(args: argparse.Namespace) -> None:
    handler = _echo if args.kind == "echo" else _flood_handler(args.count, args.rate, args.size)
    async with serve(
        handler, "127.0.0.1", 0, compression=None, max_size=None, max_queue=64
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"ws://127.0.0.1:{port}", flush=True)
        await asyncio.sleep(args.lifetime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers")
    parser.add_argument("kind", choices=["echo", "flood"])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--lifetime", type=float, default=3600.0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


def _url_line(line: str) -> str | None:
    return line if line.startswith("ws://") else None


def _port_line(line: str) -> str | None:
    return f"ws://127.0.0.1:{int(line)}" if line.isdigit() else None


class Peer:
    """A server child process and the URL it listens on.

    The child gets a pipe as standard input; the Node.js peer exits when it
    closes, so it cannot outlive this process. Its standard error goes to a
    temporary file, for :meth:`health` to quote.
    """

    def __init__(
        self, argv: list[str], name: str, url_of: Callable[[str], str | None] = _url_line
    ) -> None:
        self.name = name
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=_ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        url = url_of(line)
        if url is None:
            self.stop()
            raise RuntimeError(f"{name} did not start (printed {line!r})")
        self.url = url

    def health(self, tail: int = 2000) -> dict[str, Any]:
        """Whether the process still runs, its exit status, the end of its stderr."""
        self._stderr.seek(0, 2)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - tail))
        return {
            "running": self.proc.poll() is None,
            "returncode": self.proc.returncode,
            "stderr_tail": self._stderr.read().decode("utf-8", "replace"),
        }

    def stop(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_peer(kind: str, *options: str, lifetime: float = 3600.0) -> Peer:
    """Start ``python -m benchmarks.peers KIND ...``."""
    argv = [sys.executable, "-m", "benchmarks.peers", kind, "--lifetime", str(lifetime)]
    return Peer([*argv, *options], f"websockets {kind} server")


def start_embedded_echo(max_clients: int = 2100) -> Peer:
    """Start our embedded server in echo mode (``python -m ohws_jupyter serve``)."""
    argv = [sys.executable, "-m", "ohws_jupyter", "serve", "--port", "0", "--mode", "echo", "-q"]
    limits = ["--max-clients", str(max_clients), "--max-per-client", str(max_clients)]
    return Peer([*argv, *limits], "embedded echo server")


def _node_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError(
            "the Node.js ws echo peer needs node and npm on PATH: install them "
            "(Debian: apt-get install nodejs npm) and run again"
        )
    return node, npm


def _ensure_ws(npm: str) -> None:
    """``npm install`` in the peers' folder unless ``ws`` and ``bufferutil`` are there.

    ``bufferutil`` (an optional dependency; its npm package ships prebuilt
    binaries) lets ``ws`` unmask frames natively: without it the Node.js peer,
    not the client, limits the 4 KiB and 1 MiB runs.
    """
    modules = NODE_PEERS / "node_modules"
    if all((modules / name / "package.json").is_file() for name in ("ws", "bufferutil")):
        return
    proc = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent"],
        cwd=NODE_PEERS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 or not (modules / "ws" / "package.json").is_file():
        raise RuntimeError(f"npm install in {NODE_PEERS.name} failed:\n{proc.stderr[-2000:]}")


def start_node_echo(lifetime: float = 3600.0) -> Peer:
    """Start the Node.js ``ws`` echo server (installs ``ws`` with npm on first use)."""
    node, npm = _node_tools()
    _ensure_ws(npm)
    script = NODE_PEERS / "ws_bench_echo_server.js"
    return Peer(
        [node, str(script), str(int(lifetime * 1000))], "Node.js ws echo server", _port_line
    )


def node_versions() -> dict[str, str]:
    """Versions of ``node``, ``ws`` and ``bufferutil`` ('' for what is missing)."""
    out = {"node": "", "ws": "", "bufferutil": ""}
    node = shutil.which("node")
    if node is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out["node"] = subprocess.run(
                [node, "--version"], capture_output=True, text=True, timeout=30
            ).stdout.strip()
    for name in ("ws", "bufferutil"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            meta = NODE_PEERS / "node_modules" / name / "package.json"
            out[name] = json.loads(meta.read_text())["version"]
    return out


if __name__ == "__main__":
    sys.exit(main())
