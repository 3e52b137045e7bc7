"""Blocking waits of the runtime, on CPython: ``block_on``, ``can_block`` and ``Wakeup``.

In a browser the same calls suspend Python while the page's loop runs; that
side is exercised by ``tests/jupyter/cli/test_lite.py`` (the ``%ws`` magics, replay, and a
cell that waits with them in the page).
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from ohws_jupyter import BusinessError
from ohws_jupyter.core.errors import LoopThreadError
from ohws_jupyter.engine.runtime import Wakeup, block_on, can_block, get_runtime

TIMEOUT = 10


def test_block_on_runs_the_awaitable_on_the_io_loop_and_returns_its_result() -> None:
    async def where() -> str:
        await asyncio.sleep(0.01)
        return threading.current_thread().name

    assert can_block()
    assert block_on(where(), TIMEOUT) == "ohws-io"


def test_block_on_raises_what_the_awaitable_raised() -> None:
    async def fails() -> None:
        raise BusinessError(401, "bad")

    with pytest.raises(BusinessError, match="bad"):
        block_on(fails())


def test_block_on_times_out_and_cancels_the_awaitable() -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    # The TimeoutError is the proof that it did not wait for the hour.
    with pytest.raises(TimeoutError, match=r"not done within 0\.2 s"):
        block_on(forever(), 0.2)
    assert cancelled.wait(TIMEOUT)


def test_block_on_refuses_on_the_io_thread_where_it_would_deadlock() -> None:
    async def inside() -> tuple[bool, BaseException | None]:
        try:
            block_on(asyncio.sleep(0), 1, "the lesson's wait")
        except LoopThreadError as err:
            return can_block(), err
        return can_block(), None

    able, err = get_runtime().submit(inside()).result(TIMEOUT)
    assert able is False
    assert isinstance(err, BusinessError)
    assert "the lesson's wait cannot block on the WebSocket I/O thread" in str(err)


def test_a_wakeup_set_by_another_thread_wakes_the_waiter() -> None:
    wakeup = Wakeup()
    assert not wakeup.is_set()
    setter = threading.Timer(0.1, wakeup.set)
    setter.start()
    try:
        assert wakeup.wait(TIMEOUT) is True
    finally:
        setter.join()
    assert wakeup.is_set()
    assert wakeup.wait(0) is True  # stays set until cleared
    wakeup.clear()
    started = time.monotonic()
    assert wakeup.wait(0.1) is False
    assert time.monotonic() - started >= 0.09


def test_a_wakeup_set_on_the_io_loop_wakes_a_waiting_thread() -> None:
    wakeup = Wakeup()
    get_runtime().call_soon(wakeup.set)
    assert wakeup.wait(TIMEOUT)


def test_an_idle_worker_keeps_no_lane_alive() -> None:
    import gc
    import weakref

    from ohws_jupyter.engine.runtime import Lane

    ran = threading.Event()
    lane = Lane(get_runtime(), "dropped")
    lane.call(ran.set)
    assert ran.wait(10)
    gone = weakref.ref(lane)
    del lane
    # The worker that ran it now waits for more work; it must not hold the lane.
    deadline = time.monotonic() + 10
    while gone() is not None and time.monotonic() < deadline:
        gc.collect()
        ran.wait(0.01)
    assert gone() is None


def test_drain_waits_for_queued_callbacks_and_the_work_they_queue() -> None:
    runtime = get_runtime()
    lane = runtime.lane("drained")
    release = threading.Event()
    ran: list[str] = []

    def first() -> None:
        release.wait(TIMEOUT)
        ran.append("first")
        lane.call(ran.append, "queued by first")

    lane.call(first)
    # A callback that has not finished keeps drain() waiting until its deadline.
    assert runtime.drain(0.05) is False
    assert ran == []
    release.set()
    assert runtime.drain(TIMEOUT) is True
    assert ran == ["first", "queued by first"]


def test_drain_refuses_inside_a_callback_where_it_would_wait_for_itself() -> None:
    runtime = get_runtime()
    answers: list[bool] = []
    done = threading.Event()

    def inside() -> None:
        answers.append(runtime.drain(TIMEOUT))
        done.set()

    runtime.lane("self").call(inside)
    assert done.wait(TIMEOUT)
    assert answers == [False]
