"""The ``webSocket`` namespace, as ArkTS imports it: ``from ohws_jupyter import webSocket``.

``webSocket.createWebSocket()``, ``webSocket.createWebSocketServer()`` and the
option and result types, under their OHOS names.
"""

from .client import ReadyState, WebSocket, createWebSocket
from .errors import BusinessError
from .options import (
    ClientCert,
    CloseResult,
    HttpProxy,
    OpenResult,
    WebSocketCloseOptions,
    WebSocketRequestOptions,
)
from .server import ServerState, WebSocketServer, createWebSocketServer
from .server_options import (
    ServerCert,
    WebSocketConnection,
    WebSocketMessage,
    WebSocketServerConfig,
)

__all__ = [
    "BusinessError",
    "ClientCert",
    "CloseResult",
    "HttpProxy",
    "OpenResult",
    "ReadyState",
    "ServerCert",
    "ServerState",
    "WebSocket",
    "WebSocketCloseOptions",
    "WebSocketConnection",
    "WebSocketMessage",
    "WebSocketRequestOptions",
    "WebSocketServer",
    "WebSocketServerConfig",
    "createWebSocket",
    "createWebSocketServer",
]
