"""The ``%ws`` magic itself: the router and the named connections of one shell."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class
from IPython.utils.process import arg_split  # type: ignore[attr-defined]  # not in its __all__

from ...client.websocket import ReadyState
from ...core.errors import BusinessError
from . import compare, connection, profile, record  # noqa: F401  (their @command registers them)
from .named import NamedConnection, settle
from .registry import (
    COMMANDS,
    RAW_TEXT,
    Interrupted,
    argument,
    command,
    line_and_cell_magic,
    magic_arguments,
    overview,
    parser_of,
    unknown_command,
)
from .typed import as_typed, cell_frame
from .words import MAX_ARGS, OPTION_CHARS, split_options, split_trailing

__all__ = ["WebSocketMagics", "load_ipython_extension"]

# The commands that take a cell: %%ws send (the message), %%ws compare (the code).
_CELL_COMMANDS = ("send", "compare")


@command("help")
@magic_arguments("ws help")
@argument("command", metavar="COMMAND", nargs="?", help="the command to explain")
def help_(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> None:
    """Print the help of one command, or the list of commands."""
    if args.command is None:
        print(overview())
    elif args.command in COMMANDS:
        print(COMMANDS[args.command].__doc__)
    else:
        raise unknown_command(args.command)


@magics_class
class WebSocketMagics(Magics):
    """``%ws`` and ``%%ws``; holds the named connections of one shell."""

    def __init__(self, shell: Any = None) -> None:
        super().__init__(shell)  # type: ignore[no-untyped-call]  # IPython leaves it unannotated
        self.connections: dict[str, NamedConnection] = {}
        self.current: str | None = None
        self.server: Any = None  # the %ws serve WebSocketServer, started on demand

    @magic_arguments("ws")
    @argument("command", metavar="COMMAND", nargs="?", help=", ".join(COMMANDS))
    @argument("args", metavar="ARGS", nargs="*", help="the command's arguments")
    @line_and_cell_magic("ws")
    def ws(self, line: str = "", cell: str | None = None) -> Any:
        """Drive WebSocket connections from notebook cells (see the commands below)."""
        match = re.match(r"\s*(\S+)\s*(.*)", line, re.DOTALL)
        if match is None:
            print(overview())
            return None
        name, rest = match.groups()
        fn = COMMANDS.get(name)
        if fn is None:
            raise unknown_command(name)
        if cell is not None and name not in _CELL_COMMANDS:
            raise UsageError(
                f"%%ws works only with send and compare; write %ws {name} on a line instead"
            )
        text = None
        if name in RAW_TEXT:
            # The text after the options is kept as typed, in time linear in its length.
            with_value, flags = RAW_TEXT[name]
            argv, text = split_options(rest, with_value, flags)
            if name != "send" and len(text) <= OPTION_CHARS:
                # A longer text is refused anyway (a reason is at most 123 bytes).
                text, more = split_trailing(text, with_value, flags)
                argv += more
        elif len(rest) > MAX_ARGS:
            # shlex takes time quadratic in a word's length: refuse before reading.
            raise UsageError(
                f"%ws {name}: the arguments are {len(rest):,} characters; "
                f"at most {MAX_ARGS:,} are read"
            )
        else:
            # Quotes group words as in a shell, so -H 'Name: value' is one argument.
            try:
                argv = arg_split(rest, posix=not sys.platform.startswith("win"))
            except ValueError as exc:  # shlex: "No closing quotation"
                # Not the line itself: it may hold a header's credential.
                raise UsageError(
                    f"%ws {name}: {str(exc).lower()}; close the quote or drop it"
                ) from None
        options = argv[: argv.index("--")] if "--" in argv else argv
        if "-h" in options or "--help" in options:
            print(fn.__doc__)
            return None
        try:
            args = parser_of(fn).parse_args(argv)
        except UsageError as exc:
            raise self.parse_error(name, str(exc)) from None
        if text is not None:
            args.text = text
        try:
            with as_typed(cell_frame(sys._getframe(1))):
                return fn(self, args, cell)
        except Interrupted:
            raise
        except KeyboardInterrupt:
            raise Interrupted(f"%ws {name} stopped") from None

    # -- the connections --------------------------------------------------------------
    def target(self, name: str | None) -> NamedConnection:
        """The connection called ``name``, or the most recent one."""
        if name is None:
            if self.current is None:
                raise UsageError("no connection yet; open one with %ws connect URL")
            return self.connections[self.current]
        conn = self.connections.get(name)
        if conn is None:
            known = ", ".join(f"{n!r} {c.ws.state.name}" for n, c in self.connections.items())
            also = f" (this shell has {known})" if known else ""
            raise UsageError(
                f"no connection named {name!r}{also}; open it with %ws connect URL -n {name}"
            )
        return conn

    def require_open(self, conn: NamedConnection, what: str) -> None:
        state = conn.ws.state
        if state is ReadyState.OPEN:
            return
        if state is ReadyState.CONNECTING:
            raise UsageError(
                f"cannot {what}: {conn.name!r} is still connecting; wait with %ws wait open"
            )
        raise UsageError(
            f"cannot {what}: {conn.name!r} is {state.name}; "
            f"reconnect with %ws connect URL -n {conn.name}"
        )

    def retire(self, conn: NamedConnection) -> None:
        """Close a connection that is being replaced, waiting briefly for the handshake."""
        if conn.ws.state is not ReadyState.CLOSED:
            promise = conn.ws.close({"code": 1000, "reason": "replaced"})
            # It is being replaced either way; a slow close goes on in the background.
            with contextlib.suppress(BusinessError, TimeoutError):
                settle(promise, 5)
        conn.stop()

    def missing_url(self) -> UsageError:
        served = self.server.url if self.server is not None else None
        example = served or "ws://127.0.0.1:8765"
        return UsageError(f"%ws connect needs a URL, e.g. %ws connect {example}")

    def parse_error(self, name: str, message: str) -> UsageError:
        """The UsageError for what argparse refused in ``%ws name ...``."""
        if name == "connect":
            if message.startswith("the following arguments are required: URL"):
                return self.missing_url()
            if message.startswith("unrecognized arguments:"):
                # Most often an unquoted -H Authorization: Bearer ...: do not repeat it.
                return UsageError(
                    "%ws connect: words after the URL and options that are neither "
                    "(not shown: they may hold a credential); quote each header as "
                    "-H 'Name: value'; see %ws help connect"
                )
        return UsageError(f"%ws {name}: {message}; see %ws help {name}")


WebSocketMagics.ws.__doc__ = "\n\n".join(
    [overview(), *(fn.__doc__ or "" for fn in COMMANDS.values())]
)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ohws_jupyter``: register ``%ws`` and ``%%ws`` in this shell."""
    ipython.register_magics(WebSocketMagics(ipython))
