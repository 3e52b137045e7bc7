"""The send hot path: sends stepped in place, a send that must wait, close meanwhile."""

from __future__ import annotations

from ohws_jupyter import BusinessError
from tests.helpers import running_server, wait_until

MIB = 1024 * 1024


async def _slow_reader(conn) -> None:
    # Read nothing until told, so our transport's buffer fills and sends must wait.
    async for message in conn:
        await conn.send(message[:16])


def test_large_sends_wait_for_the_transport_and_keep_their_order(ws, echo_server):
    ws.connect(echo_server.url, {"compression": False}).result(10)
    done: list[tuple[int, object]] = []

    def record(i: int):
        return lambda err: done.append((i, err))

    for i in range(20):
        ws.send(bytes([i]) * MIB, record(i))
    echoed: list[bytes] = []
    ws.on("message", lambda value: echoed.append(value[:1]))
    wait_until(lambda: len(done) == 20, 30, "20 send callbacks")
    assert done == [(i, None) for i in range(20)]
    wait_until(lambda: ws.stats.messagesIn == 20, 30, "20 echoes")
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


def test_small_sends_resolve_in_order_from_await(ws, echo_server):
    import asyncio

    async def main() -> list[int]:
        await ws.connect(echo_server.url)
        order: list[int] = []
        for i in range(200):
            await ws.send(str(i))
            order.append(i)
        return order

    assert asyncio.run(main()) == list(range(200))
    assert ws.stats.messagesOut == 200
