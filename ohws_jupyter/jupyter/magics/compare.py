"""``%%ws compare``: run a cell under the ``seed`` and the ``device`` profiles, side by side.

A thin layer over :func:`ohws_jupyter.compare`: the cell becomes the function
it runs, once per profile, in a copy of the notebook's variables where
``webSocket`` is the run's namespace and ``peer`` the URL of the run's own
peer. A top-level ``await`` works in the cell, as in any cell.
"""

from __future__ import annotations

import argparse
import ast
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ...comparison import compare
from ...comparison.runner import DEFAULT_PEER, DEFAULT_TIMEOUT
from ...core.errors import BusinessError
from ...server.config import MODES
from .registry import argument, command, magic_arguments
from .words import positive_seconds

if TYPE_CHECKING:
    from .shell import WebSocketMagics

__all__: list[str] = []

_NO_PEER = "none"


@command("compare")
@magic_arguments("ws compare")
@argument(
    "--peer",
    default=DEFAULT_PEER,
    metavar="PEER",
    help=f"the peer each run starts: {', '.join(MODES)} (default {DEFAULT_PEER}), "
    f"a ws:// URL both runs use, or {_NO_PEER}",
)
@argument(
    "--timeout",
    type=float,
    default=DEFAULT_TIMEOUT,
    metavar="S",
    help=f"seconds the cell may take in each run (default {DEFAULT_TIMEOUT:g})",
)
@argument("-o", "--out", metavar="NAME", help="also keep the result in the variable NAME")
def compare_(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Run the cell under the seed and the device profiles; show both side by side.

    ``%%ws compare [--peer lab|echo|broadcast|URL|none] [--timeout S] [-o NAME]``

    The cell runs twice, in a copy of the notebook's variables: webSocket is
    the run's namespace (its createWebSocket() and createWebSocketServer()
    make objects of that run's profile) and peer is the URL of a peer started
    for that run. What happened in each run shows in two columns, the rows
    that differ marked; an error in the cell is a row. Returns the result
    (.differences, .seed, .device).
    """
    if cell is None or not cell.strip():
        raise UsageError(
            "%%ws compare runs the code of its cell; write it in a cell below %%ws compare"
        )
    positive_seconds(args.timeout, "--timeout", zero=False)
    if args.out is not None and not args.out.isidentifier():
        raise UsageError(f"-o takes a variable name, not {args.out!r}")
    shell = magics.shell
    source = shell.transform_cell(cell) if shell is not None else cell
    try:
        code = compile(source, "<%%ws compare cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as exc:
        raise UsageError(f"%%ws compare: line {exc.lineno} of the cell: {exc.msg}") from None
    names = shell.user_ns if shell is not None else {}

    def in_cell(webSocket: Any, peer: str | None = None) -> Any:
        scope = {**names, "webSocket": webSocket, "peer": peer}
        return eval(code, scope)  # an awaitable when the cell awaits: compare runs it

    peer = args.peer
    if peer.lower() == _NO_PEER:
        fn = lambda webSocket: in_cell(webSocket)  # noqa: E731  (takes no peer)
        peer = None
    elif peer in MODES or peer.lower().startswith(("ws://", "wss://")):
        fn = in_cell
    else:
        raise UsageError(
            f"--peer takes {', '.join(MODES)}, a ws:// URL or {_NO_PEER}, not {peer!r}"
        )
    try:
        result = compare(fn, peer=peer, timeout=args.timeout)
    except BusinessError as err:  # compare's own checks: the cell's errors are rows
        raise UsageError(f"%%ws compare: {err.message}") from None
    if args.out is not None:
        names[args.out] = result
    return result
