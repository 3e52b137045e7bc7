"""Peers for the benchmarks, each run as its own process on 127.0.0.1.

``python -m benchmarks.peers echo``: a plain ``websockets`` echo server, the
reference the client benchmarks are measured against.

``python -m benchmarks.peers flood --count N --rate R --size S``: sends every
client that connects exactly ``N`` text messages of ``S`` bytes, ``R`` per
second (0: as fast as the connection takes them), then closes with 1000 and
the reason ``"sent N"``, so a client can check that it counted all of them.

Both print their URL as the first line of standard output and stop on their
own after ``--lifetime`` seconds, so a crashed benchmark leaves no server behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import pathlib
import subprocess
import sys
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

__all__ = ["Peer", "start_embedded_echo", "start_peer"]

_ROOT = pathlib.Path(__file__).parent.parent  # so "-m benchmarks..." works from any folder


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


class Peer:
    """A server child process and the URL it listens on."""

    def __init__(self, argv: list[str], name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=_ROOT
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("ws://"):
            self.stop()
            raise RuntimeError(f"{name} did not start (printed {line!r})")
        self.url = line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

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


if __name__ == "__main__":
    sys.exit(main())
