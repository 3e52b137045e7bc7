"""The send hot path: sends stepped in place, a send that must wait, close meanwhile."""

from __future__ import annotations

import asyncio
import sys
import threading

from ohws_jupyter import BusinessError
from tests.helpers import running_server, wait_until

MIB = 1024 * 1024


async def _slow_reader(conn) -> None:
    # Read nothing until told, so our transport's buffer fills and sends must wait.
    async for message in conn:
        await conn.send(message[:16])


class Arrivals:
    """A server that records, in arrival order, the first byte (or the text) of each message.

    With ``hold``, it reads nothing until :meth:`release` is called, so the
    client's buffers fill and its sends must wait.
    """

    def __init__(self, hold: bool = False) -> None:
        self.seen: list[object] = []
        self.cond = threading.Condition()
        self.released = threading.Event()
        if not hold:
            self.released.set()

    async def handler(self, conn) -> None:
        if not self.released.is_set():
            conn.transport.pause_reading()
            await asyncio.to_thread(self.released.wait, 30)
            conn.transport.resume_reading()
        async for message in conn:
            with self.cond:
                self.seen.append(message[:1] if isinstance(message, bytes) else message)
                self.cond.notify_all()

    def release(self) -> None:
        self.released.set()

    def wait_for(self, count: int, timeout: float = 30) -> list[object]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.seen) >= count, timeout), (
                f"the server got {len(self.seen)} of {count} messages"
            )
            return list(self.seen)


def test_large_sends_wait_for_the_transport_and_keep_their_order(ws):
    arrivals = Arrivals()
    with running_server(arrivals.handler, max_size=None) as server:
        ws.connect(server.url, {"compression": False}).result(10)
        done: list[tuple[int, object]] = []

        def record(i: int):
            return lambda err: done.append((i, err))

        for i in range(20):
            ws.send(bytes([i]) * MIB, record(i))
        wait_until(lambda: len(done) == 20, 30, "20 send callbacks")
        assert done == [(i, None) for i in range(20)]
        assert arrivals.wait_for(20) == [bytes([i]) for i in range(20)]
        assert ws.stats.messagesOut == 20


def test_close_with_sends_waiting_settles_every_promise(ws):
    with running_server(_slow_reader, max_size=None) as server:
        ws.connect(server.url, {"compression": False}).result(10)
        promises = [ws.send(b"x" * MIB) for _ in range(30)]
        ws.close().result(30)
        wait_until(lambda: all(p.done() for p in promises), 10, "every send settled")
        for p in promises:
            if p.state == "rejected":
                assert isinstance(p.exception(), BusinessError)
        assert ws.stats.messagesOut == sum(p.state == "fulfilled" for p in promises)


def test_sends_issued_without_waiting_keep_their_order_on_the_wire(ws):
    """Large sends that must wait for the transport, with small ones issued right behind
    them and nothing awaited in between: the server sees them in the order they were
    sent, and their promises settle in that order too.

    Issued from a callback (a ``then`` handler), which is never held in ``send``:
    its sends keep pending promises."""
    arrivals = Arrivals(hold=True)
    with running_server(arrivals.handler, max_size=None) as server:
        settled: list[int] = []
        expected: list[object] = []
        promises = []

        def send_all(_opened: object) -> None:
            for i in range(60):
                if i % 10 == 0:
                    data: str | bytes = bytes([i]) * (2 * MIB)  # fills what the peer does not read
                    expected.append(bytes([i]))
                else:
                    data = str(i)
                    expected.append(data)
                promise = ws.send(data)
                promise.then(lambda _, i=i: settled.append(i))
                promises.append(promise)

        ws.connect(server.url, {"compression": False}).then(send_all).result(10)
        waiting = [i for i, promise in enumerate(promises) if not promise.done()]
        arrivals.release()
        assert 59 in waiting, waiting  # the last small send queued behind the large ones
        wait_until(lambda: len(settled) == 60, 30, "60 sends settled")
        assert settled == list(range(60))
        assert arrivals.wait_for(60) == expected


def test_awaited_sends_from_a_loop_arrive_in_order(ws, echo_server):
    async def main() -> list[str]:
        await ws.connect(echo_server.url, {"wholeMessages": True})
        echoes: list[str] = []
        got_all = asyncio.Event()
        loop = asyncio.get_running_loop()

        def echoed(value: str) -> None:
            echoes.append(value)
            if len(echoes) == 200:
                loop.call_soon_threadsafe(got_all.set)

        ws.on("message", echoed)
        # Every send is started before any is awaited.
        results = await asyncio.gather(*(ws.send(str(i)) for i in range(200)))
        assert results == [True] * 200
        await asyncio.wait_for(got_all.wait(), 30)
        return echoes

    assert asyncio.run(main()) == [str(i) for i in range(200)]
    assert ws.stats.messagesOut == 200


def _blocked_in_send(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == "_wait_for_room":
            return True
        frame = frame.f_back
    return False


def test_a_plain_thread_waits_in_send_while_more_than_4_mib_are_unwritten(ws):
    """A cell's ``for x in data: ws.send(x)`` against a peer that reads nothing:
    the loop is held in ``send`` instead of queuing everything, so what waits in
    memory stays near the 4 MiB high-water mark; once the peer reads, the loop goes
    on and every message arrives, in order."""
    arrivals = Arrivals(hold=True)
    with running_server(arrivals.handler, max_size=None) as server:
        ws.connect(server.url, {"compression": False}).result(10)
        errors: list[BaseException] = []

        def cell() -> None:
            try:
                for i in range(48):
                    ws.send(bytes([i]) * MIB)  # promises dropped, as in a cell
            except BaseException as exc:
                errors.append(exc)

        sender = threading.Thread(target=cell, daemon=True)
        sender.start()
        wait_until(lambda: _blocked_in_send(sender), 30, "the sending thread held in send()")
        # Queued: the 4 MiB mark, one message past it, and what the kernel's socket
        # buffers took; without pacing, all 48 MiB would be queued at once.
        assert ws.stats.bytesOut <= 16 * MIB, ws.stats.bytesOut / MIB
        assert sender.is_alive()
        arrivals.release()
        assert arrivals.wait_for(48, 60) == [bytes([i]) for i in range(48)]
        sender.join(30)
        assert not sender.is_alive() and errors == []
        assert ws.stats.messagesOut == 48


def test_sends_queued_at_once_share_one_settled_promise_that_behaves_as_any(ws, echo_server):
    ws.connect(echo_server.url, {"compression": False}).result(10)
    first, second = ws.send("a"), ws.send(b"b")
    assert first is second and first.state == "fulfilled"
    assert first.result(0) is True
    assert first.then(lambda value: ("then", value)).result(10) == ("then", True)
    assert first.catch(lambda err: err).result(10) is True
    called = threading.Event()
    first.add_callback(lambda err, value: called.set() if (err, value) == (None, True) else None)
    assert called.wait(10)

    async def awaited() -> list[bool]:
        return [await ws.send("c"), await ws.send("d")]

    assert asyncio.run(awaited()) == [True, True]
    got: list[object] = []
    ws.send("e", lambda err, value: got.append((err, value)))
    wait_until(lambda: got == [(None, True)], 10, "the callback form")


def test_history_and_watch_keep_sends_and_receipts_in_order(ws, echo_server):
    seen: list[tuple[str, object]] = []
    ws.watch(lambda r: seen.append((r.direction, r.data)) if r.kind == "message" else None)
    ws.connect(echo_server.url, {"wholeMessages": True}).result(10)
    echoes: list[object] = []
    ws.on("message", echoes.append)
    # A send shows in history() at once, before any write or echo.
    ws.send("first").result(10)
    assert [(r.direction, r.data) for r in ws.history() if r.kind == "message"][:1] == [
        (">", "first")
    ]
    wait_until(lambda: echoes == ["first"], 10, "the first echo")
    for i in range(200):
        ws.send(str(i) if i % 2 else bytes([i]))  # text and binary, nothing awaited
    wait_until(lambda: len(echoes) == 201, 20, "200 echoes")
    messages = [(r.direction, r.data) for r in ws.history() if r.kind == "message"]
    sent = [m for m in messages if m[0] == ">"]
    assert [d for _, d in sent] == ["first"] + [str(i) if i % 2 else bytes([i]) for i in range(200)]
    # Every echo comes after the send it answers.
    for data in ("first", "7", bytes([8])):
        assert messages.index((">", data)) < messages.index(("<", data))
    wait_until(lambda: len(seen) == len(messages), 10, "the observer")
    assert seen == messages


def test_a_send_after_a_pause_leaves_on_the_senders_thread(ws):
    # A lone send (a round trip's message) is written by the sender itself: it
    # reaches the peer even while the I/O thread is busy elsewhere.
    arrivals = Arrivals()
    with running_server(arrivals.handler) as server:
        ws.connect(server.url, {"compression": False}).result(10)
        busy, release = threading.Event(), threading.Event()

        def occupy() -> None:
            busy.set()
            release.wait(20)

        ws.context.runtime.call_soon(occupy)
        try:
            assert busy.wait(10), "the I/O thread never ran the blocking call"
            ws.send("while the I/O thread is busy")
            assert arrivals.wait_for(1, 10) == ["while the I/O thread is busy"]
        finally:
            release.set()
        # Later sends, direct or queued, follow it in order.
        for i in range(50):
            ws.send(str(i))
        assert arrivals.wait_for(51, 20)[1:] == [str(i) for i in range(50)]


def test_round_trips_one_at_a_time_keep_history_order(ws, echo_server):
    # Each send leaves on the sender's thread while its echo is read on the I/O
    # thread: the history and a watcher still see every send before its echo.
    seen: list[tuple[str, object]] = []
    ws.watch(lambda r: seen.append((r.direction, r.data)) if r.kind == "message" else None)
    ws.connect(echo_server.url, {"compression": False, "wholeMessages": True}).result(10)
    echoed = threading.Semaphore(0)
    ws.on("message", lambda _data: echoed.release())
    for i in range(300):
        ws.send(f"m{i}")
        assert echoed.acquire(timeout=10), f"no echo of m{i}"
    messages = [(r.direction, r.data) for r in ws.history() if r.kind == "message"]
    expected = [(d, f"m{i}") for i in range(300) for d in (">", "<")]
    assert messages == expected
    times = [r.time for r in ws.history() if r.kind == "message"]
    assert times == sorted(times)
    wait_until(lambda: len(seen) == len(expected), 10, "the watcher")
    assert seen == expected
    # Counted as they went out, the lone sends written by the sender included
    # (wireBytesOut is read as the last echo arrives, after its send).
    assert ws.stats.messagesOut == 300
    assert ws.stats.wireBytesOut >= 300 * (2 + 4 + 2)  # header, mask and "mN" each
