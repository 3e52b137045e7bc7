"""The ``%ws`` magics: drive WebSocket connections from notebook cells.

``%load_ext ohws_jupyter`` registers one line magic and one cell magic::

    %ws connect ws://127.0.0.1:8765 -n chat
    %ws send hello
    %ws wait            # -> 'hello'
    %%ws send --json
    {"type": "join", "room": 1}

``%ws COMMAND`` is a router: a dict from each command name to a small function
with its own argparse parser (IPython's ``magic_arguments``), so ``%ws?`` and
``%ws help COMMAND`` print the parsers' help and every user mistake becomes a
``UsageError`` of one sentence, shown without a traceback.

The magics are a thin layer over the public API: each connection is an
ordinary ``createWebSocket()`` object, watched with ``WebSocket.watch`` so
that ``%ws wait`` and ``%ws log`` see whole messages. The connections belong to
the shell whose magics opened them; two shells never share them.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import dataclasses
import difflib
import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.process import arg_split

from ..client.websocket import ReadyState, WebSocket, createWebSocket
from ..core.errors import BusinessError
from ..core.events import Record
from ..core.options import CloseResult, WebSocketRequestOptions, mask_url
from ..engine.promise import Promise
from ..engine.runtime import IN_BROWSER, Wakeup
from ..record.arkts import arkts_code
from . import magics_profile, magics_record

__all__ = ["Interrupted", "WebSocketMagics", "load_ipython_extension"]

#: Connection name used when ``-n`` is not given; re-running a cell replaces it.
DEFAULT_NAME = "ws"
#: Events ``%ws wait`` can wait for.
WAIT_EVENTS = ("message", "open", "close", "error")
#: Records kept per connection for ``%ws log``, ``%ws wait`` and the export ...
LOG_SIZE = 2000
#: ... and the most message data they may hold, in bytes (characters for text).
LOG_BYTES = 64 * 1024 * 1024
# Blocking waits wake this often, so a Ctrl-C delivered without a real signal
# (a kernel's interrupt_main, an embedding host) is honoured promptly.
_POLL = 0.05
_SEND_TIMEOUT = 30.0
_SHOWN_CHARS = 200
# Used with fullmatch: a "$" anchor would also accept one trailing newline.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# One shell word: bare characters and quoted runs, as shlex reads them ...
_WORD = re.compile(r"""(?:[^\s'"]+|'[^']*'|"[^"\\]*(?:\\.[^"\\]*)*")+""")
# ... and its pieces, to take the quotes off.
_PIECE = re.compile(r"""([^\s'"]+)|'([^']*)'|"([^"\\]*(?:\\.[^"\\]*)*)\"""")
# Inside double quotes a backslash escapes only these (POSIX).
_DQ_ESCAPE = re.compile(r'\\(["\\$`])')
_SPACE = re.compile(r"\s*")
# Longest word read as a possible option or close code: longer ones are text.
_OPTION_CHARS = 1024
# Longest argument text read with shlex (all but send and close): far more than
# any URL (under 8196 characters) with headers needs.
_MAX_ARGS = 100_000


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or a kernel interrupt) stopped a ``%ws`` command; IPython shows one line.

    IPython prints an exception's ``_render_traceback_()`` instead of a
    traceback: the interrupt was asked for, and the frames of this module would
    only bury the sentence that says what happened to the connection.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"KeyboardInterrupt: {self}"]


class _Connection:
    """One named connection of a shell: its WebSocket and what has happened on it."""

    def __init__(self, name: str, ws: WebSocket) -> None:
        self.name = name
        self.ws = ws
        self.cond = threading.Condition()
        self.records: deque[tuple[int, Record]] = deque()
        self.size = 0
        self.seq = 0
        # Per event kind, the sequence number of the last record %ws wait returned.
        self.taken = dict.fromkeys(WAIT_EVENTS, 0)
        self.opened = False
        self.ended = False
        self._arrived = Wakeup()  # for %ws wait in a browser
        self.stop = ws.watch(self._observe)

    def _observe(self, record: Record) -> None:
        # Runs on the I/O thread: only bookkeeping under the lock, then wake waiters.
        if record.kind == "connect":
            # A password in the URL travels as Basic credentials: mask it like one.
            record = dataclasses.replace(record, data=mask_url(record.data))
        with self.cond:
            self.seq += 1
            self.records.append((self.seq, record))
            self.size += _size(record)
            # Oldest first out, so a long lesson or a flood of big messages stays bounded.
            while len(self.records) > LOG_SIZE or (self.size > LOG_BYTES and len(self.records) > 1):
                self.size -= _size(self.records.popleft()[1])
            if record.kind == "connect":
                self.opened = self.ended = False
            elif record.kind == "open":
                self.opened = True
            elif record.kind == "close" or (record.kind == "error" and not self.opened):
                # An error before 'open' is the last record of a failed connect;
                # after 'open' an error is followed by 'close'.
                self.ended = True
            self.cond.notify_all()
        if IN_BROWSER:
            self._arrived.set()

    def pause(self, seconds: float | None) -> None:
        """With ``cond`` held: wait until a record arrives or ``seconds`` pass (None: no limit)."""
        if not IN_BROWSER:
            self.cond.wait(_POLL if seconds is None else min(_POLL, seconds))
            return
        # In a page the records arrive on its loop, which runs while this call is
        # suspended: wait for the next one, not in steps.
        magics_record.check_can_wait()
        self._arrived.clear()
        self.cond.release()
        try:
            self._arrived.wait(seconds)
        finally:
            self.cond.acquire()

    def pending(self, kind: str) -> list[tuple[int, Record]]:
        """Records of ``kind`` not yet returned by ``%ws wait`` (call with the lock held)."""
        after = self.taken[kind]
        return [(seq, r) for seq, r in self.records if seq > after and _is(r, kind)]

    def take_all(self, *kinds: str) -> None:
        """Mark every record of ``kinds`` so far as seen by ``%ws wait``."""
        with self.cond:
            for kind in kinds:
                self.taken[kind] = self.seq

    def log(self) -> list[Record]:
        with self.cond:
            return [r for _, r in self.records]


def _size(record: Record) -> int:
    return len(record.data) if isinstance(record.data, (str, bytes)) else 0


def _is(record: Record, kind: str) -> bool:
    if kind == "message":
        return record.kind == "message" and record.direction == "<"
    return record.kind == kind


def _value(record: Record) -> Any:
    """What ``%ws wait`` returns for a record: the message, CloseResult, error, ..."""
    if record.kind == "message":
        return record.data
    if record.kind == "close":
        return CloseResult(record.code or 0, record.reason or "")
    if record.kind == "error":
        return record.error
    return {"protocol": record.data or "", "headers": dict(record.headers or {})}


def _settle(promise: Promise[Any], timeout: float | None) -> Any:
    """``promise.result(timeout)``, in short steps so that Ctrl-C gets through."""
    if IN_BROWSER:
        # The page's loop settles it while this call is suspended: one wait, no steps.
        magics_record.check_can_wait()
        return promise.result(timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = _POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic()))
        try:
            return promise.result(step)
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                raise


def _shown(value: Any) -> str:
    """A one-line view of a message, cut short when long (the record keeps it whole)."""
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    unit = "characters" if isinstance(value, str) else "bytes"
    return f"{text[: _SHOWN_CHARS - 1]}… ({len(value)} {unit})"


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


def _line(record: Record) -> str:
    """One line of ``%ws log``: time, direction, kind and what it carried."""
    head = f"{_clock(record.time)} {record.direction} {record.kind:<7}"
    if record.kind == "message":
        pieces = f"  ({record.pieces} pieces)" if record.pieces > 1 else ""
        return f"{head} {_shown(record.data)}{pieces}"
    if record.kind in ("close", "closing"):
        return f"{head} {record.code} {record.reason!r}"
    if record.kind == "error":
        return f"{head} {record.error}"
    headers = f" headers {record.headers}" if record.headers else ""
    if record.kind == "connect":
        return f"{head} {record.data}{headers}"
    protocol = f" protocol {record.data!r}" if record.data else ""
    return f"{head}{protocol}{headers}".rstrip()


def _json_record(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "time": record.time,
        "kind": record.kind,
        "direction": record.direction,
    }
    if isinstance(record.data, (bytes, bytearray)):
        out["data"] = {"base64": base64.b64encode(bytes(record.data)).decode("ascii")}
    elif record.data is not None:
        out["data"] = record.data
    if record.kind == "message":
        out["pieces"] = record.pieces
    if record.code is not None:
        out["code"], out["reason"] = record.code, record.reason
    if record.error is not None:
        err = record.error
        out["error"] = err.to_dict() if isinstance(err, BusinessError) else str(err)
    if record.headers:
        out["headers"] = record.headers
    return out


class LogView(list):
    """The records of ``%ws log``; shown one line per record."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("\n".join(_line(r) for r in self) if self else "(no records)")


class JsonLogView(list):
    """The records of ``%ws log --json`` as dicts; shown as JSON lines."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("\n".join(json.dumps(r, ensure_ascii=False) for r in self))


class ArkTSCode(str):
    """ArkTS source from ``%ws export arkts``; shown as code, not as a string literal."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_markdown_(self) -> str:
        return f"```typescript\n{self}```"


def _headers(lines: list[str]) -> dict[str, str]:
    """The ``-H 'Name: value'`` options as a dict; a malformed one is a UsageError."""
    out: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        name = name.strip()
        # The value may be a credential: never echo it back in an error.
        if not colon:
            raise UsageError("a header needs a colon; write it as -H 'Name: value'")
        if not _HEADER_NAME.fullmatch(name):
            raise UsageError(
                f"header name {name!r} is not valid; use letters, digits and - "
                "as in -H 'X-Token: value'"
            )
        out[name] = value.strip()
    return out


def _unquote(raw: str) -> str:
    """A shell word without its quotes (POSIX rules), in linear time."""
    if "'" not in raw and '"' not in raw:
        return raw
    return "".join(
        bare or single or _DQ_ESCAPE.sub(r"\1", double or "")
        for bare, single, double in (m.groups() for m in _PIECE.finditer(raw))
    )


def _word_at(line: str, pos: int, limit: int | None = None) -> tuple[str, int, int] | None:
    """The shell word at ``pos`` (after spaces) as (unquoted, start, end), or None.

    None at the end of the line, at a word with an unclosed quote, and, given
    ``limit``, at a word longer than that: options and close codes are short,
    so a long word is text and is never scanned to its end.

    Linear in the length of the word, unlike ``shlex``, which builds each word a
    character at a time and takes minutes on a 10 MB message.
    """
    pos = _SPACE.match(line, pos).end()
    end = len(line) if limit is None else min(len(line), pos + limit)
    match = _WORD.match(line, pos, end)
    if match is None or (match.end() < len(line) and not line[match.end()].isspace()):
        return None
    return _unquote(match.group(0)), match.start(), match.end()


def _split_options(line: str, with_value: set[str], flags: set[str]) -> tuple[list[str], str]:
    """Split the leading options of ``line`` from the raw text after them.

    ``%ws send`` sends the rest of the line as typed, quotes and spacing kept,
    so only the known options at its start are read as shell words; ``--``
    ends them.
    """
    argv: list[str] = []
    pos = 0
    while True:
        found = _word_at(line, pos, _OPTION_CHARS)
        if found is None:
            break
        word, _, end = found
        option = word.split("=", 1)[0]
        if word == "--":
            pos = end
            break
        if option not in with_value and option not in flags:
            break
        if end > _MAX_ARGS:
            raise UsageError(
                f"the options take over {_MAX_ARGS:,} characters; "
                "put the text after them (or after --)"
            )
        argv.append(word)
        pos = end
        if option in with_value and "=" not in word:
            value = _word_at(line, pos)  # a value may be long: --binary with 5 MB of hex
            if value is None:
                break  # argparse says the value is missing
            argv.append(value[0])
            pos = value[2]
    return argv, line[pos:].strip()


def _split_trailing(text: str, with_value: set[str], flags: set[str]) -> tuple[str, list[str]]:
    """Split options written after the text (``%ws close 4000 bye -n a``) from it.

    Only a run of known options that reaches the end of the line counts; the
    text before it is kept as typed.
    """
    words: list[tuple[str, int, int]] = []
    pos = 0
    while (found := _word_at(text, pos)) is not None:
        words.append(found)
        pos = found[2]
    for first in range(len(words)):
        argv: list[str] = []
        i = first
        while i < len(words):
            word = words[i][0]
            option = word.split("=", 1)[0]
            if option in flags or (option in with_value and "=" in word):
                argv.append(word)
                i += 1
            elif option in with_value and i + 1 < len(words):
                argv += [word, words[i + 1][0]]
                i += 2
            else:
                break
        if argv and i == len(words) and pos == len(text):
            return text[: words[first][1]].rstrip(), argv
    return text, []


def _positive(value: float | None, option: str) -> None:
    if value is not None and value < 0:
        raise UsageError(f"{option} must be 0 or more seconds, not {value:g}")


# -- the commands ---------------------------------------------------------------
# Each takes the magics object, the parsed arguments and the cell body (None for
# a line magic). Their parsers and help come from the decorators.


@magic_arguments("ws serve")
@argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
@argument(
    "--mode",
    choices=("echo", "broadcast", "lab"),
    default="echo",
    help="echo: send each message back; broadcast: to every client; lab: the lesson server",
)
@argument("--stop", action="store_true", help="stop the running server")
def _serve(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Start (or stop) the embedded WebSocket server in this kernel; returns its URL."""
    return magics.serve(args)


@magic_arguments("ws connect")
@argument("url", metavar="URL", help="ws:// or wss:// address")
@argument("-n", "--name", help=f"name of the connection (default {DEFAULT_NAME!r})")
@argument(
    "-H",
    "--header",
    action="append",
    default=[],
    metavar="'NAME: VALUE'",
    help="request header; repeat for more",
)
@argument(
    "-p", "--protocol", action="append", default=[], help="subprotocol to offer; repeat for more"
)
@argument("--ca", metavar="FILE", help="CA file or folder that signs the server's certificate")
@argument("--insecure", action="store_true", help="accept any server certificate (unsafe)")
@argument("--timeout", type=float, metavar="S", help="seconds the handshake may take (default 10)")
@argument(
    "--mask",
    action="append",
    default=[],
    metavar="HEADER",
    help="also mask this header's value in displays, logs and exports",
)
def _connect(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Connect and wait until the connection is open or failed; returns the WebSocket.

    Re-running with the same name replaces that connection. Authorization,
    Cookie and the other credential headers are always masked.
    """
    return magics.connect(args)


@magic_arguments("ws send")
@argument("-n", "--name", help="connection (default: the most recent)")
@argument("--binary", metavar="HEX", help="send these bytes as a binary message, e.g. 01ff")
@argument("--base64", metavar="B64", help="send these base64 bytes as a binary message")
@argument(
    "--json", action="store_true", help="%%%%ws send only: check the cell is JSON, send it compact"
)
@argument("text", metavar="TEXT", nargs="*", help="the message: the rest of the line, as typed")
def _send(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Send a text message (the rest of the line, or the %%ws send cell) or binary; returns True.

    Options go before the text; everything after them is the message, spaces
    and quotes included. Put -- before a message that starts with an option name.
    """
    return magics.send(args, cell)


@magic_arguments("ws wait")
@argument("event", metavar="EVENT", nargs="?", default="message", choices=WAIT_EVENTS,
          help="message (default), open, close or error")  # fmt: skip
@argument("-n", "--name", help="connection (default: the most recent)")
@argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait (0: no limit)")
@argument("--count", type=int, metavar="N", help="wait for N events and return a list")
def _wait(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Block until the next event(s) not yet waited for; returns whole messages.

    Messages that arrived since the last wait count, so send-then-wait never
    misses a quick answer. Ctrl-C (kernel interrupt) stops the wait only.
    """
    return magics.wait(args)


@magic_arguments("ws close")
@argument("code", metavar="CODE", nargs="?", help="close code, a whole number (default 1000)")
@argument("reason", metavar="REASON", nargs="*", help="the rest of the line, as typed")
@argument("-n", "--name", help="connection (default: the most recent)")
@argument("--all", action="store_true", help="close every open connection of this shell")
def _close(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Close and wait for the closing handshake; returns the CloseResult.

    The reason is the rest of the line as typed; -n NAME and --all may come
    first or last. A reason that starts with a digit needs the code before it.
    """
    return magics.close(args)


@magic_arguments("ws status")
@argument("-n", "--name", help="connection (default: the most recent)")
def _status(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """State, URL, negotiated protocol, counters, last close and last error, as a dict."""
    return magics.status(magics.target(args.name))


@magic_arguments("ws list")
def _list(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Every connection of this shell, as a list of status dicts."""
    return [magics.status(conn) for conn in magics.connections.values()]


@magic_arguments("ws log")
@argument("-n", "--name", help="connection (default: the most recent)")
@argument("--last", type=int, default=20, metavar="N", help="how many records (default 20)")
@argument("--json", action="store_true", help="records as JSON-ready dicts")
def _log(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """The recent events with time and direction (> sent, < received, = state); whole messages."""
    if args.last < 1:
        raise UsageError(f"--last must be 1 or more, not {args.last}")
    records = magics.target(args.name).log()[-args.last :]
    if args.json:
        return JsonLogView(_json_record(r) for r in records)
    return LogView(records)


@magic_arguments("ws panel")
@argument("-n", "--name", help="connection (default: the most recent)")
@argument("--server", action="store_true", help="the panel of the %%ws serve server")
def _panel(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Display the live panel of a connection, or of the %ws serve server; returns the widget.

    A panel opened late shows what happened before it too.
    """
    if args.server:
        if args.name is not None:
            raise UsageError("%ws panel takes -n NAME or --server, not both")
        server = magics.server
        if server is None or server.url is None:
            raise UsageError("no server is running; start one with %ws serve")
    else:
        conn = magics.target(args.name)
    if getattr(magics.shell, "kernel", None) is None:
        # A terminal would print the widget's repr: nothing to see or click.
        raise UsageError(
            "%ws panel needs a Jupyter front end (JupyterLab, Notebook, VS Code); "
            "in a terminal %ws log and %ws status show the same"
        )
    if args.server:
        from .server_panel import WebSocketServerPanel  # needs ipywidgets, as the panel

        return WebSocketServerPanel(server)
    from .panel import WebSocketPanel  # needs ipywidgets: imported only when asked for

    # The panel replays the WebSocket's own history (ws.watch(replay=True)), which
    # holds at least what %ws log shows: nothing to pass.
    return WebSocketPanel(conn.ws)


@magic_arguments("ws export")
@argument("format", metavar="FORMAT", choices=("arkts",), help="arkts")
@argument("-n", "--name", help="connection (default: the most recent)")
def _export(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """ArkTS code that reproduces the connection (URL, options, messages sent) with the OHOS API."""
    conn = magics.target(args.name)
    ws = conn.ws
    return ArkTSCode(arkts_code(ws.url or "", ws.options, conn.log(), conn.name))


@magic_arguments("ws help")
@argument("command", metavar="COMMAND", nargs="?", help="the command to explain")
def _help(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> None:
    """Print the help of one command, or the list of commands."""
    if args.command is None:
        print(_overview())
    elif args.command in COMMANDS:
        print(COMMANDS[args.command].__doc__)
    else:
        raise _unknown(args.command)


#: The router: ``%ws NAME ...`` runs ``COMMANDS[NAME]``.
COMMANDS: dict[str, Callable[..., Any]] = {
    "serve": _serve,
    "connect": _connect,
    "send": _send,
    "wait": _wait,
    "close": _close,
    "status": _status,
    "list": _list,
    "log": _log,
    "panel": _panel,
    "export": _export,
    "help": _help,
}
# Record, replay and assert: replay, expect, request, export, log --save, connect --reconnect.
COMMANDS.update(magics_record.commands(COMMANDS))
# Behaviour profiles: %ws profile [seed|device].
COMMANDS.update(magics_profile.commands(COMMANDS))
# Commands whose text after the options is kept as typed: their options with a
# value, and their flags, for splitting the options off.
_RAW_TEXT: dict[str, tuple[set[str], set[str]]] = {
    "send": ({"-n", "--name", "--binary", "--base64"}, {"--json", "-h", "--help"}),
    "close": ({"-n", "--name"}, {"--all", "-h", "--help"}),
}


def _summary(fn: Callable[..., Any]) -> str:
    """The first line of a command's own docstring (kept as its parser's description)."""
    return (fn.parser.description or "").strip().splitlines()[0]


def _overview() -> str:
    rows = "\n".join(f"  {name:<8} {_summary(fn)}" for name, fn in COMMANDS.items())
    return (
        "%ws COMMAND [ARGS]: drive WebSocket connections from notebook cells.\n\n"
        f"Commands:\n{rows}\n\n"
        "Without -n a command acts on the most recent connection. "
        "%ws help COMMAND shows one command's options."
    )


def _parse_error(magics: WebSocketMagics, name: str, message: str) -> UsageError:
    """The UsageError for what argparse refused in ``%ws name ...``."""
    if name == "connect":
        if message.startswith("the following arguments are required: URL"):
            return magics.missing_url()
        if message.startswith("unrecognized arguments:"):
            # Most often an unquoted -H Authorization: Bearer ...: do not repeat it.
            return UsageError(
                "%ws connect: words after the URL and options that are neither "
                "(not shown: they may hold a credential); quote each header as "
                "-H 'Name: value'; see %ws help connect"
            )
    return UsageError(f"%ws {name}: {message}; see %ws help {name}")


def _unknown(command: str) -> UsageError:
    close = difflib.get_close_matches(command, COMMANDS, n=1)
    hint = f"did you mean %ws {close[0]}?" if close else "see %ws help"
    return UsageError(f"%ws has no command {command!r}; {hint}")


@magics_class
class WebSocketMagics(Magics):
    """``%ws`` and ``%%ws``; holds the named connections of one shell."""

    def __init__(self, shell: Any = None) -> None:
        super().__init__(shell)
        self.connections: dict[str, _Connection] = {}
        self.current: str | None = None
        self.server: Any = None  # the %ws serve WebSocketServer, started on demand

    @magic_arguments("ws")
    @argument("command", metavar="COMMAND", nargs="?", help=", ".join(COMMANDS))
    @argument("args", metavar="ARGS", nargs="*", help="the command's arguments")
    @line_cell_magic("ws")
    def ws(self, line: str = "", cell: str | None = None) -> Any:
        """Drive WebSocket connections from notebook cells (see the commands below)."""
        match = re.match(r"\s*(\S+)\s*(.*)", line, re.DOTALL)
        if match is None:
            print(_overview())
            return None
        name, rest = match.groups()
        fn = COMMANDS.get(name)
        if fn is None:
            raise _unknown(name)
        if cell is not None and name != "send":
            raise UsageError(f"%%ws works only with send; write %ws {name} on a line instead")
        text = None
        if name in _RAW_TEXT:
            # The text after the options is kept as typed, in time linear in its length.
            with_value, flags = _RAW_TEXT[name]
            argv, text = _split_options(rest, with_value, flags)
            if name == "close" and len(text) <= _OPTION_CHARS:
                # A longer text is refused anyway (a reason is at most 123 bytes).
                text, more = _split_trailing(text, with_value, flags)
                argv += more
        elif len(rest) > _MAX_ARGS:
            # shlex takes time quadratic in a word's length: refuse before reading.
            raise UsageError(
                f"%ws {name}: the arguments are {len(rest):,} characters; "
                f"at most {_MAX_ARGS:,} are read"
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
            args = fn.parser.parse_args(argv)
        except UsageError as exc:
            raise _parse_error(self, name, str(exc)) from None
        if text is not None:
            args.text = text
        try:
            return fn(self, args, cell)
        except Interrupted:
            raise
        except KeyboardInterrupt:
            raise Interrupted(f"%ws {name} stopped") from None

    # -- the connections --------------------------------------------------------------
    def target(self, name: str | None) -> _Connection:
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

    def _require_open(self, conn: _Connection, what: str) -> None:
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

    def _retire(self, conn: _Connection) -> None:
        """Close a connection that is being replaced, waiting briefly for the handshake."""
        if conn.ws.state is not ReadyState.CLOSED:
            promise = conn.ws.close({"code": 1000, "reason": "replaced"})
            # It is being replaced either way; a slow close goes on in the background.
            with contextlib.suppress(BusinessError, TimeoutError):
                _settle(promise, 5)
        conn.stop()

    def missing_url(self) -> UsageError:
        served = self.server.url if self.server is not None else None
        example = served or "ws://127.0.0.1:8765"
        return UsageError(f"%ws connect needs a URL, e.g. %ws connect {example}")

    def connect(self, args: argparse.Namespace) -> WebSocket:
        if not args.url:
            raise self.missing_url()
        _positive(args.timeout, "--timeout")
        options = WebSocketRequestOptions(
            header=_headers(args.header),
            caPath=args.ca,
            skipServerCertVerification=args.insecure,
            sensitiveHeaders=list(args.mask),
        )
        if args.protocol:
            options.protocol = ", ".join(args.protocol)
        if args.timeout is not None:
            options.openTimeout = args.timeout
        name = args.name or DEFAULT_NAME
        old = self.connections.pop(name, None)
        if old is not None:
            self._retire(old)
        ws = createWebSocket()
        conn = _Connection(name, ws)
        self.connections[name] = conn
        self.current = name
        promise = ws.connect(args.url, options)
        # The connection enforces openTimeout itself; this margin only guards a hang.
        limit = options.openTimeout + 5 if options.openTimeout else None
        try:
            _settle(promise, limit)
        except KeyboardInterrupt:
            # Give up this attempt only; other connections and the runtime go on.
            ws.close()
            raise Interrupted(
                f"%ws connect stopped; the attempt to {mask_url(args.url)} is abandoned "
                "and other connections go on"
            ) from None
        except TimeoutError:
            ws.close()
            raise UsageError(
                f"%ws connect: {mask_url(args.url)} did not open in time; "
                "check the server or raise --timeout"
            ) from None
        except BusinessError as err:
            raise UsageError(f"%ws connect {mask_url(args.url)} failed: {err}") from err
        finally:
            conn.take_all("open", "error")
        return ws

    def send(self, args: argparse.Namespace, cell: str | None) -> bool:
        text = args.text
        if args.binary is not None and args.base64 is not None:
            raise UsageError("give either --binary or --base64, not both")
        data: str | bytes
        if args.binary is not None or args.base64 is not None:
            if text or cell is not None:
                raise UsageError("a binary message takes no text; drop the text or the option")
            data = _decode_binary(args.binary, args.base64)
        elif cell is not None:
            if text:
                raise UsageError("%%ws send takes the message from the cell; drop the text")
            data = cell.rstrip("\r\n")
            if not data.strip():
                raise UsageError("the cell is empty; write the message below %%ws send")
            if args.json:
                try:
                    data = json.dumps(json.loads(data), separators=(",", ":"), ensure_ascii=False)
                except json.JSONDecodeError as exc:
                    raise UsageError(
                        f"the cell is not valid JSON ({exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}); fix it or drop --json"
                    ) from None
        else:
            if args.json:
                raise UsageError("--json works with the cell form; write %%ws send --json")
            if not text:
                raise UsageError(
                    "%ws send needs a message: %ws send TEXT, --binary HEX, --base64 B64, "
                    "or the %%ws send cell form"
                )
            data = text
        conn = self.target(args.name)
        self._require_open(conn, "send")
        try:
            _settle(conn.ws.send(data), _SEND_TIMEOUT)
        except BusinessError as err:
            raise UsageError(f"%ws send failed: {err}") from err
        except TimeoutError:
            raise UsageError(
                f"%ws send: the message was not sent within {_SEND_TIMEOUT:g} s; "
                f"check %ws status -n {conn.name}"
            ) from None
        return True

    def wait(self, args: argparse.Namespace) -> Any:
        if args.count is not None and args.count < 1:
            raise UsageError(f"--count must be 1 or more, not {args.count}")
        _positive(args.timeout, "--timeout")
        conn = self.target(args.name)
        kind, count = args.event, args.count or 1
        deadline = time.monotonic() + args.timeout if args.timeout else None
        with conn.cond:
            # An interrupt leaves here with nothing taken: the next wait sees it all.
            try:
                while True:
                    found = conn.pending(kind)
                    if len(found) >= count:
                        break
                    if conn.ended:
                        raise UsageError(_ended_text(conn, kind, count, len(found)))
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise UsageError(_timeout_text(conn, kind, count, len(found), args.timeout))
                    conn.pause(left)
            except KeyboardInterrupt:
                raise Interrupted(
                    f"%ws wait stopped; {conn.name!r} stays open and the next %ws wait "
                    "still sees every message"
                ) from None
            found = found[:count]
            conn.taken[kind] = found[-1][0]
        values = [_value(r) for _, r in found]
        return values if args.count is not None else values[0]

    def close(self, args: argparse.Namespace) -> Any:
        code, reason = 1000, args.text
        first = _word_at(args.text, 0, _OPTION_CHARS)
        if first is not None and re.match(r"[+-]?\d", first[0]):
            # A leading number is the code: 1000.5, 0x3e8 or 4OO1 is a typo, not a reason.
            if not re.fullmatch(r"[+-]?\d+", first[0]):
                raise UsageError(
                    f"close code {first[0]!r} is not a whole number; write a code such as "
                    "1000 or 4000, then the reason"
                )
            code, reason = int(first[0]), args.text[first[2] :].strip()
        if args.all:
            if args.name is not None:
                raise UsageError("give either -n NAME or --all, not both")
            targets = [c for c in self.connections.values() if c.ws.state is not ReadyState.CLOSED]
        else:
            conn = self.target(args.name)
            if conn.ws.state is ReadyState.CLOSED:
                last = conn.ws.stats.lastClose
                how = f" ({last.code} {last.reason!r})" if last else ""
                raise UsageError(f"{conn.name!r} is already closed{how}; nothing to close")
            targets = [conn]
        # Start every close first, so --all waits for the slowest one, not the sum.
        promises = [(c, c.ws.close({"code": code, "reason": reason})) for c in targets]
        results: dict[str, CloseResult | None] = {}
        for conn, promise in promises:
            limit = (conn.ws.options.closeTimeout if conn.ws.options else 10) + 5
            try:
                _settle(promise, limit)
            except BusinessError as err:
                raise UsageError(f"%ws close failed: {err}") from err
            except TimeoutError:
                raise UsageError(
                    f"%ws close: {conn.name!r} did not finish closing within {limit:g} s; "
                    f"check %ws status -n {conn.name}"
                ) from None
            results[conn.name] = conn.ws.stats.lastClose
        return results if args.all else results[targets[0].name]

    def status(self, conn: _Connection) -> dict[str, Any]:
        ws = conn.ws
        stats = ws.stats
        last_close = stats.lastClose
        last_error = stats.lastError
        return {
            "name": conn.name,
            "current": conn.name == self.current,
            "url": mask_url(ws.url),
            "state": ws.state.name,
            "protocol": ws.protocol,
            "extensions": ws.extensions,
            "header": ws.options.masked_header() if ws.options else {},
            "messagesIn": stats.messagesIn,
            "messagesOut": stats.messagesOut,
            "bytesIn": stats.bytesIn,
            "bytesOut": stats.bytesOut,
            "lastClose": (
                {"code": last_close.code, "reason": last_close.reason} if last_close else None
            ),
            "lastError": last_error.to_dict() if last_error else None,
        }

    def serve(self, args: argparse.Namespace) -> str | None:
        server = self.server
        running = server is not None and server.url is not None
        if args.stop:
            if not running:
                raise UsageError("no server is running; start one with %ws serve")
            try:
                _settle(server.stop(), _SEND_TIMEOUT)
            except (BusinessError, TimeoutError) as err:
                raise UsageError(f"%ws serve --stop failed: {err}") from err
            self.server = None
            return None
        if running:
            config = server.config
            if config.mode == args.mode and args.port in (0, server.port):
                return server.url  # re-running the cell keeps the server and its clients
            raise UsageError(
                f"a server in {config.mode} mode is already running at {server.url}; "
                "stop it first with %ws serve --stop"
            )
        from ..server.websocket_server import (
            createWebSocketServer,  # imported only when a lesson serves
        )

        server = createWebSocketServer()
        try:
            _settle(server.start({"serverPort": args.port, "mode": args.mode}), _SEND_TIMEOUT)
        except BusinessError as err:
            raise UsageError(f"%ws serve failed: {err}") from err
        except TimeoutError:
            server.stop()
            raise UsageError("%ws serve: the server did not start in time; try again") from None
        self.server = server
        return server.url


def _decode_binary(hex_text: str | None, b64_text: str | None) -> bytes:
    if hex_text is not None:
        try:
            return bytes.fromhex(hex_text)
        except ValueError:
            raise UsageError(
                "--binary needs hex digits, two per byte, e.g. --binary 01ff"
            ) from None
    assert b64_text is not None
    try:
        return base64.b64decode(b64_text, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("--base64 needs base64 text, e.g. --base64 AQL/") from None


def _noun(kind: str) -> str:
    return "message" if kind == "message" else f"{kind!r} event"


def _ended_text(conn: _Connection, kind: str, count: int, got: int) -> str:
    last = conn.ws.stats.lastClose
    how = f" ({last.code} {last.reason!r})" if last and conn.opened else ""
    if got:
        return (
            f"only {got} of {count} {_noun(kind)}s arrived before {conn.name!r} closed{how}; "
            f"take them with --count {got}"
        )
    return (
        f"{conn.name!r} is closed{how} and no {_noun(kind)} is waiting; "
        f"reconnect with %ws connect URL -n {conn.name}"
    )


def _timeout_text(conn: _Connection, kind: str, count: int, got: int, timeout: float) -> str:
    if count == 1:
        what = f"no {_noun(kind)} arrived"
    else:
        what = f"only {got} of {count} {_noun(kind)}s arrived"
    return f"{what} on {conn.name!r} within {timeout:g} s; send something first or raise --timeout"


WebSocketMagics.ws.__doc__ = "\n\n".join(
    [_overview(), *(fn.__doc__ or "" for fn in COMMANDS.values())]
)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ohws_jupyter``: register ``%ws`` and ``%%ws`` in this shell."""
    ipython.register_magics(WebSocketMagics(ipython))
