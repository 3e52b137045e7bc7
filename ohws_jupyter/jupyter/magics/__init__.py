"""The ``%ws`` magics: drive WebSocket connections from notebook cells.

``%load_ext ohws_jupyter`` registers one line magic and one cell magic::

    %ws connect ws://127.0.0.1:8765 -n chat
    %ws send hello
    %ws wait            # -> 'hello'
    %%ws send --json
    {"type": "join", "room": 1}

``%ws COMMAND`` is a router (:mod:`.shell`) over a table of commands
(:mod:`.registry`); each command is one function with its argparse parser
(IPython's ``magic_arguments``) above it (:mod:`.connection`, :mod:`.record`,
:mod:`.profile`), so ``%ws?`` and ``%ws help COMMAND`` print the parsers' help
and every user mistake becomes a ``UsageError`` of one sentence, shown without
a traceback. :mod:`.words` reads the line; :mod:`.named` keeps the connections.

The magics are a thin layer over the public API: each connection is an
ordinary ``createWebSocket()`` object, watched with ``WebSocket.watch`` so
that ``%ws wait`` and ``%ws log`` see whole messages. The connections belong to
the shell whose magics opened them; two shells never share them.
"""

from .named import LogView
from .registry import COMMANDS, Interrupted
from .shell import WebSocketMagics, load_ipython_extension

__all__ = ["COMMANDS", "Interrupted", "LogView", "WebSocketMagics", "load_ipython_extension"]
