"""Echo throughput and round-trip time, one client library per function.

Workloads run in a fresh child process (``python -m benchmarks.workloads
JSON-LIST``), which prints the list of results as one JSON line. Every client
does the same thing, the way its users would write it: send ``count`` binary
messages of ``size`` bytes as fast as the client takes them (pipelined: sends
do not wait for echoes), and count the echoes; time runs from the first send
to the last echo. Flow control is each stack's own (TCP, ``drain()``, write
buffer marks, our send promises). Compression is off everywhere
(``websocket-client`` and ``picows`` have none).

Clients:

* ``ours-thread``: our API from a plain thread as a notebook cell writes it:
  ``for x in data: ws.send(x)``, the promises dropped; the engine's own
  pacing (``send`` waits past the write buffer's high mark) is all there is.
  Echoes are counted as for ``ours-callback``.
* ``ours-callback``: our API from a plain thread: ``ws.send(data, callback)``
  for message after message, echoes counted in ``on('message')`` (4K pieces,
  unless ``whole``) and ``on('dataEnd')``. A send's callback fires once the
  message is queued, at once unless the peer lags (see ``send``'s docstring),
  so the sender waits only while more than ``WINDOW_BYTES`` of its sends have
  not been called back: the pacing the API asks of callback users.
* ``ours-await``: our API from an asyncio loop: ``await ws.send(data)`` one
  after the other, echoes counted in ``on('message')``/``on('dataEnd')``.
* ``raw``: the ``websockets`` asyncio client, one task sending
  (``await ws.send``), one reading (``await ws.recv()``).
* ``wsclient``: ``websocket-client``, sending from the main thread, reading
  in a second thread.
* ``picows``: ``picows`` (Cython), ``transport.send`` for message after
  message, pausing while its transport asks to (``pause_writing``), echoes
  copied out of ``on_ws_frame`` with ``get_payload_as_bytes()``.

Round trip: one 64-byte message in flight at a time, timed from the send to
its echo, after 50 warm-up round trips on a connection of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from typing import Any

__all__ = ["CLIENTS", "WINDOW_BYTES", "echo", "rtt"]

CLIENTS = ("ours-thread", "ours-callback", "ours-await", "raw", "wsclient", "picows")
TIMEOUT = 120.0
#: Bytes of sends not yet called back past which the callback-form sender waits.
WINDOW_BYTES = 32 * 1024 * 1024
#: Seconds without an echo after which a measurement gives up (a server that hangs).
STALL_AFTER = 15.0
#: Bytes echoed (round trips done) in this measurement so far; the watchdog reads it.
_received = [0]


@contextlib.contextmanager
def _watchdog(what: str, stall_after: float = STALL_AFTER) -> Any:
    """End the process (status 3, one line on stderr) once no echo came for ``stall_after`` s.

    A server that stops answering must not hold the run for the parent's whole
    time limit, and some clients (``websocket-client``'s blocking calls) have
    no time limit of their own.
    """
    _received[0] = 0
    stop = threading.Event()

    def watch() -> None:
        last, since = -1, time.monotonic()
        while not stop.wait(0.5):
            now = _received[0]
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > stall_after:
                print(
                    f"{what}: no echo for {stall_after:g} s ({now:,} echoed so far)",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(3)

    threading.Thread(target=watch, name="watchdog", daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _result(count: int, size: int, seconds: float, cpu: float, **extra: Any) -> dict[str, Any]:
    return {
        "count": count,
        "size": size,
        "seconds": seconds,
        "msgs_per_s": count / seconds,
        "mb_per_s": count * size / seconds / 1e6,
        "cpu_us_per_msg": cpu / count * 1e6,
        **extra,
    }


# -- echo throughput ---------------------------------------------------------------
def _ours_counting(url: str, count: int, whole: bool) -> tuple[Any, threading.Event, dict]:
    """Our client, connected, counting echoes (pieces and whole messages) until ``count``."""
    from ohws_jupyter import createWebSocket

    ws = createWebSocket()
    ws.connect(url, {"compression": False, "wholeMessages": whole}).result(10)
    done = threading.Event()
    got = {"messages": 0, "pieces": 0}

    def on_message(data: bytes) -> None:
        got["pieces"] += 1
        _received[0] += len(data)

    def on_end() -> None:
        got["messages"] += 1
        if got["messages"] == count:
            done.set()

    ws.on("message", on_message)
    ws.on("dataEnd", on_end)
    return ws, done, got


def _echo_ours_thread(url: str, size: int, count: int, whole: bool) -> dict:
    """A notebook cell's ``for x in data: ws.send(x)``: no callback, no window of its own."""
    ws, done, got = _ours_counting(url, count, whole)
    payload = os.urandom(size)
    cpu, start = _cpu(), time.perf_counter()
    for _ in range(count):
        ws.send(payload)
    ok = done.wait(TIMEOUT)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    ws.close().result(10)
    if not ok or _received[0] != count * size:
        raise RuntimeError(f"ours-thread: {got}, {_received[0]} bytes")
    return _result(count, size, seconds, cpu, pieces=got["pieces"])


def _echo_ours_callback(url: str, size: int, count: int, whole: bool) -> dict:
    ws, done, got = _ours_counting(url, count, whole)
    errors: list[BaseException] = []
    window = threading.Condition()
    unsent = [0]  # bytes of sends whose callback has not run yet

    def sent(err: BaseException | None) -> None:
        with window:
            unsent[0] -= size
            if unsent[0] <= WINDOW_BYTES:
                window.notify()
        if err is not None:
            errors.append(err)
            done.set()

    payload = os.urandom(size)
    cpu, start = _cpu(), time.perf_counter()
    for _ in range(count):
        with window:
            if unsent[0] > WINDOW_BYTES and not window.wait_for(
                lambda: unsent[0] <= WINDOW_BYTES or bool(errors), TIMEOUT
            ):
                raise RuntimeError("ours-callback: send callbacks stopped")
            unsent[0] += size
        ws.send(payload, sent)
    ok = done.wait(TIMEOUT)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    ws.close().result(10)
    if errors or not ok or _received[0] != count * size:
        raise RuntimeError(f"ours-callback: {got}, {_received[0]} bytes, errors {errors[:1]}")
    return _result(count, size, seconds, cpu, pieces=got["pieces"])


def _echo_ours_await(url: str, size: int, count: int, whole: bool) -> dict:
    from ohws_jupyter import createWebSocket

    async def main() -> dict:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        ws = createWebSocket()
        await ws.connect(url, {"compression": False, "wholeMessages": whole})
        got = {"messages": 0, "pieces": 0}

        def on_message(data: bytes) -> None:
            got["pieces"] += 1
            _received[0] += len(data)

        def on_end() -> None:
            got["messages"] += 1
            if got["messages"] == count:
                loop.call_soon_threadsafe(done.set)

        ws.on("message", on_message)
        ws.on("dataEnd", on_end)
        payload = os.urandom(size)
        cpu, start = _cpu(), time.perf_counter()
        for _ in range(count):
            await ws.send(payload)
        await asyncio.wait_for(done.wait(), TIMEOUT)
        seconds, cpu = time.perf_counter() - start, _cpu() - cpu
        await ws.close()
        if _received[0] != count * size:
            raise RuntimeError(f"ours-await: {got}, {_received[0]} bytes")
        return _result(count, size, seconds, cpu, pieces=got["pieces"])

    return asyncio.run(main())


def _echo_raw(url: str, size: int, count: int, whole: bool) -> dict:
    from websockets.asyncio.client import connect

    async def main() -> dict:
        async with connect(url, compression=None, max_size=None) as ws:

            async def read() -> None:
                for _ in range(count):
                    _received[0] += len(await ws.recv())

            payload = os.urandom(size)
            cpu, start = _cpu(), time.perf_counter()
            reader = asyncio.ensure_future(read())
            for _ in range(count):
                await ws.send(payload)
            await asyncio.wait_for(reader, TIMEOUT)
            seconds, cpu = time.perf_counter() - start, _cpu() - cpu
        if _received[0] != count * size:
            raise RuntimeError(f"raw: {_received[0]} bytes")
        return _result(count, size, seconds, cpu)

    return asyncio.run(main())


def _echo_wsclient(url: str, size: int, count: int, whole: bool) -> dict:
    import websocket

    ws = websocket.create_connection(url, enable_multithread=True)

    def read() -> None:
        for _ in range(count):
            _received[0] += len(ws.recv())

    payload = os.urandom(size)
    cpu, start = _cpu(), time.perf_counter()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    for _ in range(count):
        ws.send_bytes(payload)
    reader.join(TIMEOUT)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    ws.close()
    if _received[0] != count * size:
        raise RuntimeError(f"wsclient: {_received[0]} bytes")
    return _result(count, size, seconds, cpu)


def _picows_listener(on_payload: Any) -> Any:
    """A ``picows`` listener class that hands each data frame to ``on_payload``."""
    from picows import WSListener, WSMsgType

    data_types = (WSMsgType.BINARY, WSMsgType.TEXT, WSMsgType.CONTINUATION)

    class Listener(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.writable = asyncio.Event()
            self.writable.set()

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type in data_types:
                on_payload(frame.get_payload_as_bytes(), frame.fin)
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.disconnect()

        def pause_writing(self) -> None:
            self.writable.clear()

        def resume_writing(self) -> None:
            self.writable.set()

    return Listener


def _echo_picows(url: str, size: int, count: int, whole: bool) -> dict:
    from picows import WSMsgType, ws_connect

    async def main() -> dict:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        got = {"messages": 0}

        def on_payload(data: bytes, fin: bool) -> None:
            _received[0] += len(data)
            if fin:
                got["messages"] += 1
                if got["messages"] == count and not done.done():
                    done.set_result(None)

        transport, client = await ws_connect(
            _picows_listener(on_payload), url, max_frame_size=size + 1024
        )
        payload = os.urandom(size)
        cpu, start = _cpu(), time.perf_counter()
        for _ in range(count):
            if not client.writable.is_set():
                await asyncio.wait_for(client.writable.wait(), TIMEOUT)
            transport.send(WSMsgType.BINARY, payload)
        await asyncio.wait_for(done, TIMEOUT)
        seconds, cpu = time.perf_counter() - start, _cpu() - cpu
        transport.send_close()
        await asyncio.wait_for(transport.wait_disconnected(), 10)
        if _received[0] != count * size:
            raise RuntimeError(f"picows: {got}, {_received[0]} bytes")
        return _result(count, size, seconds, cpu)

    return asyncio.run(main())


ECHO = {
    "ours-thread": _echo_ours_thread,
    "ours-callback": _echo_ours_callback,
    "ours-await": _echo_ours_await,
    "raw": _echo_raw,
    "wsclient": _echo_wsclient,
    "picows": _echo_picows,
}


def echo(
    client: str,
    url: str,
    size: int,
    count: int,
    whole: bool = False,
    stall_after: float = STALL_AFTER,
) -> dict:
    """Echo ``count`` messages of ``size`` bytes through ``client``; one result dict."""
    with _watchdog(f"{client}, {count:,} × {size} B", stall_after):
        return ECHO[client](url, size, count, whole)


# -- round-trip time -----------------------------------------------------------------
def _percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)

    def q(f: float) -> float:
        return s[min(len(s) - 1, round(f * (len(s) - 1)))] * 1e6

    return {"p50_us": q(0.5), "p99_us": q(0.99), "samples": len(s)}


def _rtt_ours_callback(url: str, count: int) -> list[float]:
    from ohws_jupyter import createWebSocket

    ws = createWebSocket()
    ws.connect(url, {"compression": False}).result(10)
    echoed = threading.Event()
    ws.on("message", lambda _data: echoed.set())
    payload = os.urandom(64)
    out = []
    for _ in range(count):
        echoed.clear()
        start = time.perf_counter()
        ws.send(payload)
        if not echoed.wait(10):
            raise RuntimeError("ours-callback: no echo within 10 s")
        out.append(time.perf_counter() - start)
        _received[0] += 1
    ws.close().result(10)
    return out


def _rtt_ours_await(url: str, count: int) -> list[float]:
    from ohws_jupyter import createWebSocket

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        ws = createWebSocket()
        await ws.connect(url, {"compression": False})
        waiter: list[asyncio.Future] = []

        def on_message(_data: bytes) -> None:
            fut = waiter.pop()
            loop.call_soon_threadsafe(fut.set_result, None)

        ws.on("message", on_message)
        payload = os.urandom(64)
        out = []
        for _ in range(count):
            fut = loop.create_future()
            waiter.append(fut)
            start = time.perf_counter()
            await ws.send(payload)
            await asyncio.wait_for(fut, 10)
            out.append(time.perf_counter() - start)
            _received[0] += 1
        await ws.close()
        return out

    return asyncio.run(main())


def _rtt_raw(url: str, count: int) -> list[float]:
    from websockets.asyncio.client import connect

    async def main() -> list[float]:
        async with connect(url, compression=None) as ws:
            payload = os.urandom(64)
            out = []
            for _ in range(count):
                start = time.perf_counter()
                await ws.send(payload)
                await ws.recv()
                out.append(time.perf_counter() - start)
            _received[0] += 1
            return out

    return asyncio.run(main())


def _rtt_wsclient(url: str, count: int) -> list[float]:
    import websocket

    ws = websocket.create_connection(url)
    payload = os.urandom(64)
    out = []
    for _ in range(count):
        start = time.perf_counter()
        ws.send_bytes(payload)
        ws.recv()
        out.append(time.perf_counter() - start)
        _received[0] += 1
    ws.close()
    return out


def _rtt_picows(url: str, count: int) -> list[float]:
    from picows import WSMsgType, ws_connect

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        waiter: list[asyncio.Future] = []

        def on_payload(_data: bytes, fin: bool) -> None:
            if fin:
                waiter.pop().set_result(None)

        transport, _client = await ws_connect(_picows_listener(on_payload), url)
        payload = os.urandom(64)
        out = []
        for _ in range(count):
            fut = loop.create_future()
            waiter.append(fut)
            start = time.perf_counter()
            transport.send(WSMsgType.BINARY, payload)
            await asyncio.wait_for(fut, 10)
            out.append(time.perf_counter() - start)
            _received[0] += 1
        transport.send_close()
        await asyncio.wait_for(transport.wait_disconnected(), 10)
        return out

    return asyncio.run(main())


RTT = {
    "ours-thread": _rtt_ours_callback,  # the same plain-thread `send`
    "ours-callback": _rtt_ours_callback,
    "ours-await": _rtt_ours_await,
    "raw": _rtt_raw,
    "wsclient": _rtt_wsclient,
    "picows": _rtt_picows,
}


def rtt(client: str, url: str, count: int, stall_after: float = STALL_AFTER) -> dict:
    """Round-trip times of ``count`` sequential 64-byte echoes (after 50 warm-up ones)."""
    with _watchdog(f"{client}, round trips", stall_after):
        RTT[client](url, min(50, count))
        return _percentiles(RTT[client](url, count))


def main() -> int:
    """Run a JSON list of specs (``{"kind": "echo"|"rtt", ...}``); print the results."""
    results = []
    for spec in json.loads(sys.argv[1]):
        kind = spec.pop("kind")
        results.append({"echo": echo, "rtt": rtt}[kind](**spec))
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
