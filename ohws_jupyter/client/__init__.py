"""The OHOS client face: ``createWebSocket()`` and the ``WebSocket`` object, the
session that dials (direct, proxy, TLS, redirects), reconnecting, and the
browser transport used under Pyodide.

Imports ``core``, ``engine`` and ``record``.
"""

from .websocket import ReadyState, WebSocket, create_websocket, createWebSocket, split_message

__all__ = ["ReadyState", "WebSocket", "createWebSocket", "create_websocket", "split_message"]
