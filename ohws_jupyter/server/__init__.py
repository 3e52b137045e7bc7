"""The OHOS server face: ``createWebSocketServer()``, its configuration, the
echo/broadcast/lab modes and the request hook.

Imports ``core`` and ``engine``.
"""

from .config import (
    ServerCert,
    ServerCertDict,
    WebSocketConnection,
    WebSocketConnectionDict,
    WebSocketMessage,
    WebSocketServerConfig,
    WebSocketServerConfigDict,
)
from .websocket_server import (
    ServerState,
    WebSocketServer,
    create_websocket_server,
    createWebSocketServer,
)

__all__ = [
    "ServerCert",
    "ServerCertDict",
    "ServerState",
    "WebSocketConnection",
    "WebSocketConnectionDict",
    "WebSocketMessage",
    "WebSocketServer",
    "WebSocketServerConfig",
    "WebSocketServerConfigDict",
    "createWebSocketServer",
    "create_websocket_server",
]
