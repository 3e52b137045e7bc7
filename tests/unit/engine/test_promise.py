"""``engine.promise``: settling once, result/await, then/catch/finally chaining, callbacks.

Handlers and callbacks run on a lane (in the package, a callback thread's ordered
queue). Here the lane is a plain queue that the test runs by hand, so every test
sees exactly when a handler runs, and no thread is involved.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from ohws_jupyter import BusinessError, Promise
from ohws_jupyter.core.context import Context


class ManualLane:
    """Queues calls in order; :meth:`run` runs them, including any they queue meanwhile."""

    def __init__(self, errors: Callable[[BaseException], BaseException] | None = None) -> None:
        self.calls: list[tuple[Callable[..., Any], tuple]] = []
        self.errors = errors  # how the lane's object words its errors

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        self.calls.append((fn, args))

    def run(self) -> int:
        count = 0
        while self.calls:
            fn, args = self.calls.pop(0)
            fn(*args)
            count += 1
        return count


@pytest.fixture
def lane() -> ManualLane:
    return ManualLane()


def promise(lane: ManualLane, label: str = "send") -> Promise[Any]:
    return Promise(label, lane)  # type: ignore[arg-type]


# -- settling -----------------------------------------------------------------------------------
def test_a_promise_settles_once(lane: ManualLane) -> None:
    p = promise(lane)
    assert (p.state, p.done(), repr(p)) == ("pending", False, "<Promise send: pending>")
    p.resolve(True)
    p.resolve(False)
    p.reject(BusinessError(2302999))
    assert (p.state, p.done(), p.result(), p.exception()) == ("fulfilled", True, True, None)
    assert repr(p) == "<Promise send: fulfilled True>"


def test_a_rejected_promise_raises_its_error(lane: ManualLane) -> None:
    err = BusinessError(2302999, "no open connection")
    p = promise(lane)
    p.reject(err)
    p.resolve(True)
    assert p.state == "rejected" and p.exception() is err
    with pytest.raises(BusinessError) as info:
        p.result()
    assert info.value is err
    assert repr(p) == f"<Promise send: rejected {err}>"


def test_ready_made_promises() -> None:
    assert Promise.resolved(3, "connect").result() == 3
    err = BusinessError(401, "bad")
    assert Promise.rejected(err, "close").exception() is err


def test_await_gives_the_value_or_raises(lane: ManualLane) -> None:
    async def main() -> tuple[Any, Any]:
        ok, bad = promise(lane), promise(lane)
        loop = asyncio.get_running_loop()
        loop.call_soon(ok.resolve, "value")  # settles while the coroutine waits
        loop.call_soon(bad.reject, BusinessError(200, "refused"))
        got = await ok
        with pytest.raises(BusinessError) as info:
            await bad
        return got, info.value.code

    assert asyncio.run(main()) == ("value", 200)


def test_an_unhandled_rejection_is_logged_once_collected(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ohws_jupyter"):
        Promise.rejected(BusinessError(2302999, "nobody looked"), "send")
        handled = Promise.rejected(BusinessError(2302999, "looked at"), "close")
        handled.exception()
        del handled
    messages = [r.getMessage() for r in caplog.records if r.name == "ohws_jupyter"]
    assert messages == ["unhandled rejection of send: [2302999] Websocket Unknown Other Error: "
                        "nobody looked"]  # fmt: skip


# -- chaining ------------------------------------------------------------------------------------
def test_then_runs_on_the_lane_and_chains_values(lane: ManualLane) -> None:
    p = promise(lane)
    child = p.then(lambda v: v + 1).then(lambda v: v * 10)
    p.resolve(1)
    assert child.state == "pending"  # handlers wait for the lane
    lane.run()
    assert child.result() == 20


def test_an_exception_in_a_handler_rejects_the_child_and_catch_recovers(lane: ManualLane) -> None:
    p = promise(lane)

    def boom(value: Any) -> Any:
        raise ValueError(f"bad {value}")

    failed = p.then(boom)
    recovered = failed.catch(lambda exc: f"recovered from {exc}")
    p.resolve("x")
    lane.run()
    assert isinstance(failed.exception(), ValueError)
    assert recovered.result() == "recovered from bad x"


def test_a_rejection_skips_then_handlers_until_a_catch(lane: ManualLane) -> None:
    p = promise(lane)
    seen: list[str] = []
    end = p.then(lambda v: seen.append("skipped")).then(lambda v: seen.append("skipped too"))
    caught = end.catch(lambda exc: type(exc).__name__)
    p.reject(BusinessError(200))
    lane.run()
    assert seen == [] and caught.result() == "BusinessError"


def test_a_returned_promise_is_followed(lane: ManualLane) -> None:
    p, inner = promise(lane), promise(lane, "inner")
    child = p.then(lambda v: inner)
    p.resolve(1)
    lane.run()
    assert child.state == "pending"
    inner.resolve("from inner")
    assert child.result() == "from inner"


def test_finally_runs_and_keeps_the_outcome(lane: ManualLane) -> None:
    ok, bad = promise(lane), promise(lane)
    ran: list[str] = []
    ok_end = ok.finally_(lambda: ran.append("ok"))
    bad_end = bad.finally_(lambda: ran.append("bad"))
    ok.resolve(5)
    err = BusinessError(200)
    bad.reject(err)
    lane.run()
    assert ran == ["ok", "bad"]
    assert ok_end.result() == 5 and bad_end.exception() is err


def test_handlers_run_in_the_order_their_promises_settled(lane: ManualLane) -> None:
    first, second = promise(lane), promise(lane)
    order: list[str] = []
    first.then(lambda v: order.append("first"))
    second.then(lambda v: order.append("second"))
    second.resolve(None)
    first.resolve(None)
    lane.run()
    assert order == ["second", "first"]


def test_then_on_a_settled_promise_queues_the_handler_at_once(lane: ManualLane) -> None:
    p = promise(lane)
    p.resolve("done")
    child = p.then(str.upper)
    assert lane.run() == 1 and child.result() == "DONE"


def test_then_refuses_a_handler_that_is_not_callable(lane: ManualLane) -> None:
    with pytest.raises(BusinessError) as info:
        promise(lane).then("print")
    assert info.value.code == 401
    assert info.value.message == "Parameter error: then(): on_fulfilled must be callable or None"
    with pytest.raises(BusinessError) as catch:
        promise(lane).catch(3)
    assert "on_rejected must be callable or None" in catch.value.message


# -- the callback form ----------------------------------------------------------------------------
def test_a_callback_gets_err_and_value_like_node(lane: ManualLane) -> None:
    ok, bad = promise(lane), promise(lane)
    got: list[Any] = []
    ok.add_callback(lambda err, value: got.append(("both", err, value)))
    ok.add_callback(lambda err: got.append(("err only", err)))  # as in JS: (err) => ...
    bad.add_callback(lambda err, value: got.append(("both", type(err).__name__, value)))
    ok.resolve(True)
    bad.reject(BusinessError(2302999))
    lane.run()
    assert got == [("both", None, True), ("err only", None), ("both", "BusinessError", None)]


def test_a_raising_callback_is_logged_and_later_ones_run(
    lane: ManualLane, caplog: pytest.LogCaptureFixture
) -> None:
    p = promise(lane)
    got: list[Any] = []

    def broken(err: Any, value: Any) -> None:
        raise RuntimeError("in a callback")

    p.add_callback(broken)
    p.add_callback(lambda err, value: got.append(value))
    p.resolve("v")
    with caplog.at_level(logging.ERROR, logger="ohws_jupyter"):
        lane.run()
    assert got == ["v"]
    assert any("RuntimeError: in a callback" in r.getMessage() for r in caplog.records)


def test_a_rejection_is_worded_by_the_lane_it_belongs_to() -> None:
    device = ManualLane(Context(profile="device", device_texts=True).localize)
    seed = ManualLane(Context().localize)
    on_device: Promise[Any] = Promise("connect", device)  # type: ignore[arg-type]
    on_seed: Promise[Any] = Promise("connect", seed)  # type: ignore[arg-type]
    on_device.reject(BusinessError(2302003, "close it first", device=False))
    on_seed.reject(BusinessError(2302003, "close it first", device=True))
    assert on_device.exception().message == "Websocket connection already exist"  # type: ignore[union-attr]
    assert on_device.exception().hint == "close it first"  # type: ignore[union-attr]
    assert on_seed.exception().message == (  # type: ignore[union-attr]
        "Websocket connection already exists: close it first"
    )
    assert on_seed.exception().hint is None  # type: ignore[union-attr]
