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

__all__ = [
    "BusinessError",
    "ClientCert",
    "CloseResult",
    "HttpProxy",
    "OpenResult",
    "ReadyState",
    "WebSocket",
    "WebSocketCloseOptions",
    "WebSocketRequestOptions",
    "createWebSocket",
]
