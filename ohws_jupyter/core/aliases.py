"""The API 23 single-event names: ``ws.onOpen(cb)`` is ``ws.on('open', cb)``.

OpenHarmony API 23 added, beside ``on(type, callback)``/``off(type, callback?)``,
one method per event for ArkTS's static mode (``onOpen``/``offOpen``,
``onMessage``, ``onWebSocketClose``, ... in ``@ohos.net.webSocket.d.ts``). Here
they are plain aliases: the same subscription, the same arity adaptation, the
same 401 for a non-callable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

__all__ = ["CLIENT_ALIASES", "SERVER_ALIASES", "ClientEventAliases", "ServerEventAliases"]

#: Method suffix -> event, for WebSocket (API 23 names).
CLIENT_ALIASES = {
    "Open": "open",
    "Message": "message",
    "WebSocketClose": "close",
    "WebSocketError": "error",
    "DataEnd": "dataEnd",
    "HeaderReceive": "headerReceive",
}
#: Method suffix -> event, for WebSocketServer (API 23 names).
SERVER_ALIASES = {
    "Connect": "connect",
    "MessageReceive": "messageReceive",
    "WebSocketServerClose": "close",
    "WebSocketServerError": "error",
}


def _pair(event: str) -> tuple[Callable[..., None], Callable[..., None]]:
    def subscribe(self: Any, callback: Callable[..., Any]) -> None:
        self.on(event, callback)

    def unsubscribe(self: Any, callback: Callable[..., Any] | None = None) -> None:
        self.off(event, callback)

    subscribe.__doc__ = f"``on('{event}', callback)`` under its API 23 name."
    unsubscribe.__doc__ = f"``off('{event}', callback)`` under its API 23 name."
    return subscribe, unsubscribe


def _with_aliases(name: str, table: dict[str, str]) -> type:
    namespace: dict[str, Any] = {"__doc__": f"``on{{Event}}``/``off{{Event}}`` of {name}."}
    for suffix, event in table.items():
        on, off = _pair(event)
        on.__name__, off.__name__ = f"on{suffix}", f"off{suffix}"
        on.__qualname__, off.__qualname__ = f"{name}.on{suffix}", f"{name}.off{suffix}"
        namespace[f"on{suffix}"], namespace[f"off{suffix}"] = on, off
    return type(name, (), namespace)


if TYPE_CHECKING:
    # The classes below are built from the tables at run time; a checker reads them here.
    # tests/unit check that the two agree.
    _Callback = Callable[..., object]

    class ClientEventAliases:
        def onOpen(self, callback: _Callback) -> None: ...
        def offOpen(self, callback: _Callback | None = None) -> None: ...
        def onMessage(self, callback: _Callback) -> None: ...
        def offMessage(self, callback: _Callback | None = None) -> None: ...
        def onWebSocketClose(self, callback: _Callback) -> None: ...
        def offWebSocketClose(self, callback: _Callback | None = None) -> None: ...
        def onWebSocketError(self, callback: _Callback) -> None: ...
        def offWebSocketError(self, callback: _Callback | None = None) -> None: ...
        def onDataEnd(self, callback: _Callback) -> None: ...
        def offDataEnd(self, callback: _Callback | None = None) -> None: ...
        def onHeaderReceive(self, callback: _Callback) -> None: ...
        def offHeaderReceive(self, callback: _Callback | None = None) -> None: ...

    class ServerEventAliases:
        def onConnect(self, callback: _Callback) -> None: ...
        def offConnect(self, callback: _Callback | None = None) -> None: ...
        def onMessageReceive(self, callback: _Callback) -> None: ...
        def offMessageReceive(self, callback: _Callback | None = None) -> None: ...
        def onWebSocketServerClose(self, callback: _Callback) -> None: ...
        def offWebSocketServerClose(self, callback: _Callback | None = None) -> None: ...
        def onWebSocketServerError(self, callback: _Callback) -> None: ...
        def offWebSocketServerError(self, callback: _Callback | None = None) -> None: ...

else:
    ClientEventAliases = _with_aliases("ClientEventAliases", CLIENT_ALIASES)
    ServerEventAliases = _with_aliases("ServerEventAliases", SERVER_ALIASES)
