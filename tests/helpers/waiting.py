"""Waiting without fixed sleeps: an event recorder and a bounded poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Recorder", "wait_until"]


class Recorder:
    """Subscribes to every event of a WebSocket (or a server) and lets a test wait for them."""

    EVENTS: tuple[str, ...] = ("headerReceive", "open", "message", "dataEnd", "close", "error")

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[tuple[str, tuple]] = []
        self.cond = threading.Condition()
        for name in self.EVENTS:
            ws.on(name, self._make(name))

    def _make(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            with self.cond:
                self.events.append((name, args))
                self.cond.notify_all()

        return record

    def names(self) -> list[str]:
        with self.cond:
            return [n for n, _ in self.events]

    def of(self, name: str) -> list[tuple]:
        with self.cond:
            return [a for n, a in self.events if n == name]

    def values(self, name: str) -> list[Any]:
        """The last argument of each event ``name`` (the value)."""
        return [a[-1] if a else None for a in self.of(name)]

    def wait(self, name: str, count: int = 1, timeout: float = 10) -> list[tuple]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len([1 for n, _ in self.events if n == name]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out waiting for {count} {name!r} events; got {self.names()}"
                    )
                self.cond.wait(left)
        return self.of(name)


def wait_until(predicate: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
    """Poll ``predicate`` until true; a bounded wait, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
