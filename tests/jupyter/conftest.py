"""The Jupyter tier's fixtures: a real kernel per test module, an IPython shell with %ws."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.kernel import Kernel


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    """A started :class:`tests.helpers.kernel.Kernel`, shut down after the module's tests.

    One per module: starting one takes seconds, and modules do not share
    variables, ``%ws`` connections or warnings already shown.
    """
    pytest.importorskip("jupyter_client")
    k = Kernel()
    try:
        yield k
    finally:
        k.stop()


@pytest.fixture(scope="module")
def shell() -> Any:
    """An in-process IPython shell with ``%load_ext ohws_jupyter`` done."""
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "ohws_jupyter")
    return sh


@pytest.fixture
def magics(shell: Any) -> Iterator[Any]:
    """Fresh %ws state for each test; its connections and server closed afterwards."""
    from ohws_jupyter.client.reconnect import disable_reconnect
    from ohws_jupyter.jupyter.magics import WebSocketMagics

    fresh = WebSocketMagics(shell)
    shell.register_magics(fresh)
    yield fresh
    for conn in list(fresh.connections.values()):
        disable_reconnect(conn.ws)
        if conn.ws.readyState != 3:  # CLOSED
            with contextlib.suppress(Exception):
                conn.ws.close().result(10)
    if fresh.server is not None and fresh.server.url is not None:
        with contextlib.suppress(Exception):
            fresh.server.stop().result(10)


@pytest.fixture
def ws(shell: Any, magics: Any) -> Any:
    """``ws('send hi')`` runs ``%ws send hi``; ``ws('send', cell)`` runs ``%%ws send``."""

    def run(line: str, cell: str | None = None) -> Any:
        if cell is None:
            return shell.run_line_magic("ws", line)
        return shell.run_cell_magic("ws", line, cell)

    return run
