"""The OHOS server face: ``createWebSocketServer()``, its configuration, the
echo/broadcast/lab modes and the request hook.

Imports ``core`` and ``engine``.
"""

from .config import ServerCert, WebSocketConnection, WebSocketMessage, WebSocketServerConfig
from .websocket_server import (
    ServerState,
    WebSocketServer,
    create_websocket_server,
    createWebSocketServer,
)

__all__ = [
    "ServerCert",
    "ServerState",
    "WebSocketConnection",
    "WebSocketMessage",
    "WebSocketServer",
    "WebSocketServerConfig",
    "createWebSocketServer",
    "create_websocket_server",
]
