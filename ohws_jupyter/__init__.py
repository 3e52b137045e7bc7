"""ohws_jupyter: the OpenHarmony ``@ohos.net.webSocket`` API in Python, live in Jupyter.

>>> from ohws_jupyter import webSocket
>>> ws = webSocket.createWebSocket()

``%load_ext ohws_jupyter`` adds the ``%ws`` magics; ``WebSocketPanel(ws)`` shows
a live panel. Neither is imported until used, so the core works without Jupyter.
"""

from __future__ import annotations

import sys
from typing import Any

from . import webSocket
from .client.websocket import (
    ReadyState,
    WebSocket,
    create_websocket,
    createWebSocket,
    split_message,
)
from .comparison import Comparison, compare
from .core.checks import set_allowed_hosts, set_network_permission
from .core.errors import BusinessError
from .core.events import Record
from .core.options import (
    ClientCert,
    ClientCertDict,
    CloseResult,
    HttpProxy,
    HttpProxyDict,
    OpenInfo,
    OpenResult,
    ReconnectPolicy,
    ReconnectPolicyDict,
    TlsProtocol,
    WebSocketCloseOptions,
    WebSocketCloseOptionsDict,
    WebSocketRequestOptions,
    WebSocketRequestOptionsDict,
)
from .core.profile import PortabilityWarning, get_profile, set_profile
from .engine.promise import Promise
from .engine.runtime import Wakeup, block_on, can_block
from .server.config import (
    ServerCert,
    ServerCertDict,
    WebSocketConnection,
    WebSocketConnectionDict,
    WebSocketMessage,
    WebSocketServerConfig,
    WebSocketServerConfigDict,
)
from .server.websocket_server import (
    ServerState,
    WebSocketServer,
    create_websocket_server,
    createWebSocketServer,
)

if sys.platform == "emscripten":  # a browser (Pyodide): connect through the page
    from .client import browser as _browser

    _browser.install()

__version__ = "0.1.0"

__all__ = [
    "BusinessError",
    "ClientCert",
    "ClientCertDict",
    "CloseResult",
    "Comparison",
    "HttpProxy",
    "HttpProxyDict",
    "OpenInfo",
    "OpenResult",
    "PortabilityWarning",
    "Promise",
    "ReadyState",
    "ReconnectPolicy",
    "ReconnectPolicyDict",
    "Record",
    "ServerCert",
    "ServerCertDict",
    "ServerState",
    "TlsProtocol",
    "Wakeup",
    "WebSocket",
    "WebSocketCloseOptions",
    "WebSocketCloseOptionsDict",
    "WebSocketConnection",
    "WebSocketConnectionDict",
    "WebSocketMessage",
    "WebSocketRequestOptions",
    "WebSocketRequestOptionsDict",
    "WebSocketServer",
    "WebSocketServerConfig",
    "WebSocketServerConfigDict",
    "block_on",
    "can_block",
    "compare",
    "createWebSocket",
    "createWebSocketServer",
    "create_websocket",
    "create_websocket_server",
    "get_profile",
    "load_ipython_extension",
    "set_allowed_hosts",
    "set_network_permission",
    "set_profile",
    "split_message",
    "webSocket",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ohws_jupyter``: register the ``%ws`` magics."""
    from .jupyter.magics import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    # The panel needs ipywidgets/anywidget: import it only when asked for, so the
    # core works without Jupyter (and it stays out of __all__ for `import *`).
    if name == "WebSocketPanel":
        from .jupyter.panel import WebSocketPanel

        return WebSocketPanel
    if name == "WebSocketServerPanel":
        from .jupyter.server_panel import WebSocketServerPanel

        return WebSocketServerPanel
    raise AttributeError(f"module 'ohws_jupyter' has no attribute {name!r}")
