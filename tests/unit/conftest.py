"""The unit tier's promise, enforced: no network sockets and no threads.

A test here that connects, binds or listens on a socket, or starts a thread
(the package's runtime included), fails and says where it belongs.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest


def _refuse(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(
            f"a unit test {what}; a test that needs it belongs in tests/integration"
        )

    return refuse


@pytest.fixture(autouse=True)
def no_sockets_or_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    for method in ("connect", "connect_ex", "bind", "listen"):
        monkeypatch.setattr(socket.socket, method, _refuse(f"called socket.{method}()"))
    monkeypatch.setattr(threading.Thread, "start", _refuse("started a thread"))
