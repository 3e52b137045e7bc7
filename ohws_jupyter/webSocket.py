"""The ``webSocket`` namespace, as ArkTS imports it: ``from ohws_jupyter import webSocket``.

``webSocket.createWebSocket()``, ``webSocket.createWebSocketServer()`` and the
option and result types, under their OHOS names.
"""

from .client.websocket import ReadyState, WebSocket, createWebSocket
from .core.errors import BusinessError
from .core.options import (
    ClientCert,
    CloseResult,
    HttpProxy,
    OpenResult,
    WebSocketCloseOptions,
    WebSocketRequestOptions,
)
from .server.config import (
    ServerCert,
    WebSocketConnection,
    WebSocketMessage,
    WebSocketServerConfig,
)
from .server.websocket_server import ServerState, WebSocketServer, createWebSocketServer

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
