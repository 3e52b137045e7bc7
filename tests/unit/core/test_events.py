"""``core.events``: subscription order, on/off/once, arity adaptation, errors and contexts."""

from __future__ import annotations

import contextvars
import functools
import logging
from typing import Any

import pytest

from ohws_jupyter import BusinessError
from ohws_jupyter.core.context import Context
from ohws_jupyter.core.events import EventEmitter, adapt

ARITIES = {"open": 2, "message": 2, "dataEnd": 0, "close": 2}


@pytest.fixture
def emitter() -> EventEmitter:
    return EventEmitter(ARITIES, "WebSocket")


# -- order ------------------------------------------------------------------------------------
def test_callbacks_run_in_subscription_order(emitter: EventEmitter) -> None:
    seen: list[tuple[str, Any]] = []

    def named(name: str) -> Any:
        return lambda value: seen.append((name, value))

    for name in ("a", "b", "c"):
        emitter.on("message", named(name))
    emitter.emit("message", (None, "x"))
    emitter.emit("message", (None, "y"))
    assert seen == [("a", "x"), ("b", "x"), ("c", "x"), ("a", "y"), ("b", "y"), ("c", "y")]


def test_the_same_callback_twice_runs_twice_and_off_removes_both(emitter: EventEmitter) -> None:
    seen: list[str] = []

    def cb(value: str) -> None:
        seen.append(value)

    emitter.on("message", cb)
    emitter.on("message", cb)
    emitter.emit("message", (None, "x"))
    assert seen == ["x", "x"]
    assert emitter.off("message", cb) == 2
    emitter.emit("message", (None, "y"))
    assert seen == ["x", "x"]


def test_pieces_reach_every_subscriber_before_the_next_piece(emitter: EventEmitter) -> None:
    seen: list[str] = []
    emitter.on("message", lambda v: seen.append("a" + v))
    emitter.emit_each("message", [(None, "1"), (None, "2")])
    assert seen == ["a1", "a2"]
    emitter.on("message", lambda v: seen.append("b" + v))
    emitter.emit_each("message", [(None, "3"), (None, "4")])
    assert seen == ["a1", "a2", "a3", "b3", "a4", "b4"]


def test_off_inside_a_callback_stops_a_later_one_at_once(emitter: EventEmitter) -> None:
    seen: list[str] = []

    def later(value: str) -> None:
        seen.append("later " + value)

    emitter.on("message", lambda v: (seen.append("first " + v), emitter.off("message", later)))
    emitter.on("message", later)
    emitter.emit("message", (None, "x"))
    assert seen == ["first x"]


def test_on_inside_a_callback_takes_effect_from_the_next_event(emitter: EventEmitter) -> None:
    seen: list[str] = []

    def first(value: str) -> None:
        seen.append("first " + value)
        if value == "x":
            emitter.on("message", lambda v: seen.append("added " + v))

    emitter.on("message", first)
    emitter.emit("message", (None, "x"))
    emitter.emit("message", (None, "y"))
    assert seen == ["first x", "first y", "added y"]


# -- on / off / once / replace ------------------------------------------------------------------
def test_off_without_a_callback_removes_every_one_of_that_event_only(
    emitter: EventEmitter,
) -> None:
    seen: list[str] = []
    emitter.on("message", lambda v: seen.append("m"))
    emitter.on("message", lambda v: seen.append("m2"))
    emitter.on("close", lambda result: seen.append("c"))
    assert emitter.off("message") == 2
    assert emitter.off("message") == 0
    emitter.emit("message", (None, "x"))
    emitter.emit("close", (None, "result"))
    assert seen == ["c"]


def test_off_of_a_callback_never_subscribed_removes_nothing(emitter: EventEmitter) -> None:
    seen: list[str] = []
    emitter.on("message", seen.append)
    assert emitter.off("message", print) == 0
    emitter.emit("message", (None, "x"))
    assert seen == ["x"]


def test_once_fires_for_the_next_event_only(emitter: EventEmitter) -> None:
    seen: list[Any] = []
    emitter.once("open", lambda err, value: seen.append(value))
    emitter.emit("open", (None, 1))
    emitter.emit("open", (None, 2))
    assert seen == [1]


def test_off_removes_a_once_subscription_by_its_callback(emitter: EventEmitter) -> None:
    seen: list[Any] = []

    def cb(value: Any) -> None:
        seen.append(value)

    emitter.once("open", cb)
    assert emitter.off("open", cb) == 1
    emitter.emit("open", (None, 1))
    assert seen == []


def test_replace_leaves_one_subscription(emitter: EventEmitter) -> None:
    seen: list[str] = []
    emitter.on("message", lambda v: seen.append("old"))
    emitter.replace("message", lambda v: seen.append("new"))
    emitter.emit("message", (None, "x"))
    assert seen == ["new"]


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ("messages", "WebSocket has no event 'messages'; use one of 'open', 'message'"),
        ("Message", "WebSocket has no event 'Message'"),
        (None, "event type must be a string, not NoneType"),
        (3, "event type must be a string, not int"),
    ],
)
def test_a_bad_event_type_is_a_401(emitter: EventEmitter, event: Any, fragment: str) -> None:
    for call in (emitter.on, emitter.once, emitter.replace):
        with pytest.raises(BusinessError) as info:
            call(event, print)
        assert info.value.code == 401 and fragment in info.value.message
    with pytest.raises(BusinessError) as info:
        emitter.off(event)
    assert info.value.code == 401 and fragment in info.value.message


def test_a_callback_that_is_not_callable_is_a_401(emitter: EventEmitter) -> None:
    with pytest.raises(BusinessError) as info:
        emitter.on("message", "print")
    assert info.value.code == 401
    assert info.value.message == "Parameter error: callback for 'message' must be callable, not str"
    with pytest.raises(BusinessError) as off:
        emitter.off("message", 42)
    assert "callback for off('message') must be callable or omitted, not int" in off.value.message


def test_a_refused_replace_keeps_the_subscriptions(emitter: EventEmitter) -> None:
    seen: list[str] = []
    emitter.on("message", seen.append)
    with pytest.raises(BusinessError):
        emitter.replace("message", None)
    emitter.emit("message", (None, "still"))
    assert seen == ["still"]


# -- delivery -------------------------------------------------------------------------------------
def test_a_raising_callback_is_logged_and_the_others_still_run(
    emitter: EventEmitter, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken(value: str) -> None:
        raise ValueError("boom")

    emitter.on("message", broken)
    emitter.on("message", seen.append)
    with caplog.at_level(logging.ERROR, logger="ohws_jupyter"):
        emitter.emit("message", (None, "x"))
    assert seen == ["x"]
    (record,) = [r for r in caplog.records if r.name == "ohws_jupyter"]
    assert "broken" in record.getMessage() and "'message'" in record.getMessage()
    assert "ValueError: boom" in record.getMessage() and record.exc_info is not None


def test_a_callback_runs_in_the_context_it_was_subscribed_in(emitter: EventEmitter) -> None:
    cell: contextvars.ContextVar[str] = contextvars.ContextVar("cell", default="none")
    seen: list[str] = []

    def subscribe() -> None:
        cell.set("cell A")
        emitter.on("message", lambda v: seen.append(cell.get()))

    contextvars.copy_context().run(subscribe)
    cell.set("cell C")
    emitter.emit("message", (None, "x"))
    assert seen == ["cell A"]


# -- arity --------------------------------------------------------------------------------------
def test_callbacks_get_as_many_arguments_as_they_take() -> None:
    args = ("err", "value")
    assert adapt(lambda: "none", 2)(args) == "none"
    assert adapt(lambda v: v, 2)(args) == "value"  # events keep the last ones
    assert adapt(lambda v: v, 2, trailing=False)(args) == "err"  # operations: like JS
    assert adapt(lambda e, v: (e, v), 2)(args) == args
    assert adapt(lambda *a: a, 2)(args) == args
    assert adapt(lambda e, *rest: (e, rest), 2)(args) == ("err", ("value",))
    assert adapt(lambda e, v, extra=1: (e, v, extra), 2)(args) == ("err", "value", 1)
    assert adapt(lambda err: err, 0)(()) is None  # the seed's on('dataEnd', (err) => ...)
    assert adapt(lambda a, b, c: (a, b, c), 2)(args) == ("err", "value", None)


def test_callables_other_than_functions_are_adapted_too() -> None:
    class Handler:
        def __init__(self) -> None:
            self.got: list[Any] = []

        def on_message(self, value: Any) -> None:
            self.got.append(value)

        def __call__(self, err: Any, value: Any) -> None:
            self.got.append((err, value))

    h = Handler()
    adapt(h.on_message, 2)((None, "bound"))
    adapt(h, 2)((None, "instance"))
    adapt(functools.partial(lambda tag, value: h.got.append((tag, value)), "p"), 2)((None, "v"))
    adapt(print, 2)  # a builtin without a readable signature gets every argument
    assert h.got == ["bound", (None, "instance"), ("p", "v")]


def test_an_emitter_words_errors_by_its_owners_context() -> None:
    device = EventEmitter({"error": 1}, "WebSocket", Context(profile="device", device_texts=True))
    seed = EventEmitter({"error": 1}, "WebSocket", Context())
    seen: list[BusinessError] = []
    for emitter in (device, seed):
        emitter.on("error", seen.append)
    device.emit("error", (BusinessError(2302999, "the peer left", device=False),))
    seed.emit("error", (BusinessError(2302999, "the peer left", device=True),))
    assert [(e.message, e.hint) for e in seen] == [
        ("Websocket Unknown Other Error", "the peer left"),
        ("Websocket Unknown Other Error: the peer left", None),
    ]
    with pytest.raises(BusinessError) as raised:
        device.on("nope", print)
    assert raised.value.message == "Parameter error" and "has no event 'nope'" in raised.value.hint
    device.subscribe("error", lambda err: seen.append(BusinessError(1, "replaced")), "")
    device.emit("error", (BusinessError(2302999),))  # a device keeps one callback: the last
    assert [e.code for e in seen[2:]] == [1]
