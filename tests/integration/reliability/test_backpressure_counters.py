"""Backpressure counters under 'on'/'off' while messages flow (issue 26, item 5).

Received messages are counted as consumed on the I/O thread while no
``'message'`` callback is registered, and on the object's callback lane while
one is. Toggling the callback while messages flow switches between the two
mid-stream: a lost update of the consumed count would leave reading paused
for good, and one of ``piecesIn`` would leave the counters wrong. CPython
with the GIL does not switch threads inside an ``int`` ``+=`` on an attribute,
so there the unlocked counters held by luck; a free-threaded build has no such
luck, and the counters now take a lock (or are written under one).
"""

from __future__ import annotations

import sys
import threading

import pytest

from ohws_jupyter import createWebSocket
from tests.helpers import running_server, wait_until

COUNT = 100_000


@pytest.fixture
def frequent_thread_switches():
    # Switch threads as often as CPython allows, so that two threads updating one
    # counter interleave inside '+=' if nothing orders them.
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_toggling_the_message_callback_while_100_000_messages_flow_never_stalls_reading(
    frequent_thread_switches,
):
    async def push(conn):
        await conn.recv()  # "go"
        for i in range(COUNT):
            await conn.send(i.to_bytes(4, "big"))
        await conn.wait_closed()

    with running_server(push) as server:
        ws = createWebSocket()
        # A small queue: reading pauses and resumes hundreds of times.
        ws.connect(server.url, {"wholeMessages": True, "maxQueuedMessages": 16}).result(10)
        delivered: list[int] = []
        done = threading.Event()

        def on_message(data: bytes) -> None:
            delivered.append(int.from_bytes(data, "big"))

        def toggle() -> None:
            while not done.is_set():
                ws.on("message", on_message)
                ws.off("message", on_message)

        toggler = threading.Thread(target=toggle, daemon=True)
        toggler.start()
        try:
            ws.send("go").result(10)
            wait_until(lambda: ws.stats.messagesIn == COUNT, 120, f"{COUNT:,} messages in")
        finally:
            done.set()
            toggler.join(10)
        # Every message counted once, on whichever side took it.
        wait_until(lambda: ws.stats.piecesIn == COUNT, 30, "piecesIn to match")
        assert delivered == sorted(delivered)  # those delivered came in order
        assert ws.close({"code": 1000, "reason": "done"}).result(10) is True
