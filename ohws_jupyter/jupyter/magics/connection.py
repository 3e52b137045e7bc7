"""The ``%ws`` commands of a connection: serve, connect, send, wait, close, status,
list, log, panel.

Each command is one function: its argparse parser (IPython's
``magic_arguments``) above it, its body in it, registered by ``@command``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ...client.reconnect import enable_reconnect
from ...client.websocket import ReadyState, createWebSocket
from ...core.checks import compose
from ...core.errors import BusinessError
from ...core.masking import mask_url
from ...core.options import CloseResult, WebSocketRequestOptions, check_reconnect
from ...core.profile import PROFILES
from ...record.transcript import transcript
from ...server.config import MODES
from .named import (
    WAIT_EVENTS,
    JsonLogView,
    LogView,
    NamedConnection,
    json_record,
    settle,
    value_of,
)
from .registry import DEFAULT_NAME, Interrupted, argument, command, magic_arguments
from .words import OPTION_CHARS, parse_headers, positive_seconds, word_at

if TYPE_CHECKING:
    from .shell import WebSocketMagics

__all__ = ["parse_reconnect", "status_of"]

SEND_TIMEOUT = 30.0


def parse_reconnect(text: str) -> Any:
    """The policy ``--reconnect [SPEC]`` names: nothing, N attempts, or a JSON object."""
    text = text.strip()
    if text.lower() in ("", "true", "on", "yes"):
        return True
    if re.fullmatch(r"\d+", text):
        return {"attempts": int(text)}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise UsageError(
            "--reconnect takes nothing, a number of attempts, or a JSON object such as "
            '\'{"attempts": 5, "minDelay": 1}\''
        )
    return value


@command("serve")
@magic_arguments("ws serve")
@argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
@argument(
    "--mode",
    choices=MODES,
    default="echo",
    help="echo: send each message back; broadcast: to every client; lab: the lesson server",
)
@argument("--stop", action="store_true", help="stop the running server")
def serve(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Start (or stop) the embedded WebSocket server in this kernel; returns its URL."""
    server = magics.server
    running = server is not None and server.url is not None
    if args.stop:
        if not running:
            raise UsageError("no server is running; start one with %ws serve")
        try:
            settle(server.stop(), SEND_TIMEOUT)
        except (BusinessError, TimeoutError) as err:
            raise UsageError(f"%ws serve --stop failed: {err}") from err
        magics.server = None
        return None
    if running:
        config = server.config
        if config.mode == args.mode and args.port in (0, server.port):
            return server.url  # re-running the cell keeps the server and its clients
        raise UsageError(
            f"a server in {config.mode} mode is already running at {server.url}; "
            "stop it first with %ws serve --stop"
        )
    from ...server.websocket_server import (
        createWebSocketServer,  # imported only when a lesson serves
    )

    server = createWebSocketServer()
    try:
        settle(server.start({"serverPort": args.port, "mode": args.mode}), SEND_TIMEOUT)
    except BusinessError as err:
        raise UsageError(f"%ws serve failed: {err}") from err
    except TimeoutError:
        server.stop()
        raise UsageError("%ws serve: the server did not start in time; try again") from None
    magics.server = server
    return server.url


@command("connect")
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
@argument(
    "--reconnect",
    nargs="?",
    const="true",
    metavar="SPEC",
    help="reconnect after a close you did not ask for; SPEC: attempts, or "
    '\'{"attempts": N, "minDelay": S, "maxDelay": S, "factor": F}\'',
)
@argument(
    "--no-compression",
    action="store_true",
    help="do not offer permessage-deflate (RFC 7692): frames travel as sent",
)
@argument(
    "--profile",
    metavar="seed|device",
    help="behave as this profile, for this connection only (default: %%ws profile's)",
)
def connect(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Connect and wait until the connection is open or failed; returns the WebSocket.

    Re-running with the same name replaces that connection. Authorization,
    Cookie and the other credential headers are always masked.
    """
    if not args.url:
        raise magics.missing_url()
    profile = args.profile
    if profile is not None:
        profile = profile.strip().lower()
        if profile not in PROFILES:
            raise UsageError(f"%ws connect --profile takes seed or device, not {args.profile!r}")
    policy = None if args.reconnect is None else parse_reconnect(args.reconnect)
    positive_seconds(args.timeout, "--timeout")
    options = WebSocketRequestOptions(
        header=parse_headers(args.header),
        caPath=args.ca,
        skipServerCertVerification=args.insecure,
        sensitiveHeaders=list(args.mask),
        compression=not args.no_compression,
    )
    if policy is not None:
        try:
            check_reconnect(policy)  # a bad policy fails before connecting
        except BusinessError as err:
            raise UsageError(f"--reconnect: {err}") from None
    if args.protocol:
        options.protocol = ", ".join(args.protocol)
    if args.timeout is not None:
        options.openTimeout = args.timeout
    name = args.name or DEFAULT_NAME
    old = magics.connections.pop(name, None)
    if old is not None:
        magics.retire(old)
    ws = createWebSocket(profile=profile)
    conn = NamedConnection(name, ws)
    magics.connections[name] = conn
    magics.current = name
    promise = ws.connect(args.url, options)
    # The connection enforces openTimeout itself; this margin only guards a hang.
    limit = options.openTimeout + 5 if options.openTimeout else None
    try:
        settle(promise, limit)
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
    failed = ws.stats.lastError
    if ws.readyState == 3 and failed is not None:
        # A device's connect resolves once the attempt starts; a failure comes in 'error'.
        raise UsageError(f"%ws connect {mask_url(args.url)} failed: {failed}")
    if policy is not None:
        enable_reconnect(ws, policy)
    return ws


@command("send", raw_text=({"-n", "--name", "--binary", "--base64"}, {"--json", "-h", "--help"}))
@magic_arguments("ws send")
@argument("-n", "--name", help="connection (default: the most recent)")
@argument("--binary", metavar="HEX", help="send these bytes as a binary message, e.g. 01ff")
@argument("--base64", metavar="B64", help="send these base64 bytes as a binary message")
@argument(
    "--json", action="store_true", help="%%%%ws send only: check the cell is JSON, send it compact"
)
@argument("text", metavar="TEXT", nargs="*", help="the message: the rest of the line, as typed")
def send(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Send a text message (the rest of the line, or the %%ws send cell) or binary; returns True.

    Options go before the text; everything after them is the message, spaces
    and quotes included. Put -- before a message that starts with an option name.
    """
    text = args.text
    if args.binary is not None and args.base64 is not None:
        raise UsageError("give either --binary or --base64, not both")
    data: str | bytes
    if args.binary is not None or args.base64 is not None:
        if text or cell is not None:
            raise UsageError("a binary message takes no text; drop the text or the option")
        try:
            data = (
                compose(args.binary, "hex")
                if args.binary is not None
                else compose(args.base64, "base64")
            )
        except BusinessError:
            raise UsageError(
                "--binary needs hex digits, two per byte, e.g. --binary 01ff"
                if args.binary is not None
                else "--base64 needs base64 text, e.g. --base64 AQL/"
            ) from None
    elif cell is not None:
        if text:
            raise UsageError("%%ws send takes the message from the cell; drop the text")
        data = cell.rstrip("\r\n")
        if not data.strip():
            raise UsageError("the cell is empty; write the message below %%ws send")
        if args.json:
            try:
                data = compose(data, "json")
            except BusinessError as err:
                raise UsageError(f"the cell is {err.detail}; fix it or drop --json") from None
    else:
        if args.json:
            raise UsageError("--json works with the cell form; write %%ws send --json")
        if not text:
            raise UsageError(
                "%ws send needs a message: %ws send TEXT, --binary HEX, --base64 B64, "
                "or the %%ws send cell form"
            )
        data = text
    conn = magics.target(args.name)
    magics.require_open(conn, "send")
    try:
        settle(conn.ws.send(data), SEND_TIMEOUT)
    except BusinessError as err:
        raise UsageError(f"%ws send failed: {err}") from err
    except TimeoutError:
        raise UsageError(
            f"%ws send: the message was not sent within {SEND_TIMEOUT:g} s; "
            f"check %ws status -n {conn.name}"
        ) from None
    return True


@command("wait")
@magic_arguments("ws wait")
@argument("event", metavar="EVENT", nargs="?", default="message", choices=WAIT_EVENTS,
          help="message (default), open, close or error")  # fmt: skip
@argument("-n", "--name", help="connection (default: the most recent)")
@argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait (0: no limit)")
@argument("--count", type=int, metavar="N", help="wait for N events and return a list")
def wait(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Block until the next event(s) not yet waited for; returns whole messages.

    Messages that arrived since the last wait count, so send-then-wait never
    misses a quick answer. Ctrl-C (kernel interrupt) stops the wait only.
    """
    if args.count is not None and args.count < 1:
        raise UsageError(f"--count must be 1 or more, not {args.count}")
    positive_seconds(args.timeout, "--timeout")
    conn = magics.target(args.name)
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
    values = [value_of(r) for _, r in found]
    return values if args.count is not None else values[0]


@command("close", raw_text=({"-n", "--name"}, {"--all", "-h", "--help"}))
@magic_arguments("ws close")
@argument("code", metavar="CODE", nargs="?", help="close code, a whole number (default 1000)")
@argument("reason", metavar="REASON", nargs="*", help="the rest of the line, as typed")
@argument("-n", "--name", help="connection (default: the most recent)")
@argument("--all", action="store_true", help="close every open connection of this shell")
def close(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Close and wait for the closing handshake; returns the CloseResult.

    The reason is the rest of the line as typed; -n NAME and --all may come
    first or last. A reason that starts with a digit needs the code before it.
    """
    code, reason = 1000, args.text
    first = word_at(args.text, 0, OPTION_CHARS)
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
        targets = [c for c in magics.connections.values() if c.ws.state is not ReadyState.CLOSED]
    else:
        conn = magics.target(args.name)
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
            settle(promise, limit)
        except BusinessError as err:
            raise UsageError(f"%ws close failed: {err}") from err
        except TimeoutError:
            raise UsageError(
                f"%ws close: {conn.name!r} did not finish closing within {limit:g} s; "
                f"check %ws status -n {conn.name}"
            ) from None
        results[conn.name] = conn.ws.stats.lastClose
    return results if args.all else results[targets[0].name]


@command("status")
@magic_arguments("ws status")
@argument("-n", "--name", help="connection (default: the most recent)")
def status(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """State, URL, negotiated protocol, counters, last close and last error, as a dict."""
    return status_of(magics, magics.target(args.name))


@command("list")
@magic_arguments("ws list")
def list_(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Every connection of this shell, as a list of status dicts."""
    return [status_of(magics, conn) for conn in magics.connections.values()]


@command("log")
@magic_arguments("ws log")
@argument("-n", "--name", help="connection (default: the most recent)")
@argument("--last", type=int, default=20, metavar="N", help="how many records (default 20)")
@argument("--json", action="store_true", help="records as JSON-ready dicts")
@argument(
    "--save",
    metavar="FILE",
    help="write every record kept to FILE: .har (HAR, Chrome) or .jsonl (JSON lines)",
)
def log(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """The recent events with time and direction (> sent, < received, = state); whole messages."""
    if args.save is not None:
        conn = magics.target(args.name)
        t = transcript(conn.ws, conn.log())
        try:
            kind = t.save(args.save)
        except BusinessError as err:
            raise UsageError(f"%ws log --save: {err}") from None
        print(f"saved {len(t)} records of {conn.name!r} to {args.save} ({kind.upper()})")
        return None
    if args.last < 1:
        raise UsageError(f"--last must be 1 or more, not {args.last}")
    records = magics.target(args.name).log()[-args.last :]
    if args.json:
        return JsonLogView(json_record(r) for r in records)
    return LogView(records)


@command("panel")
@magic_arguments("ws panel")
@argument("-n", "--name", help="connection (default: the most recent)")
@argument("--server", action="store_true", help="the panel of the %%ws serve server")
def panel(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
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
        from ..server_panel import WebSocketServerPanel  # needs ipywidgets, as the panel

        return WebSocketServerPanel(server)
    from ..panel import WebSocketPanel  # needs ipywidgets: imported only when asked for

    # The panel replays the WebSocket's own history (ws.watch(replay=True)), which
    # holds at least what %ws log shows: nothing to pass.
    return WebSocketPanel(conn.ws)


def status_of(magics: WebSocketMagics, conn: NamedConnection) -> dict[str, Any]:
    """What ``%ws status`` shows of one connection."""
    ws = conn.ws
    stats = ws.stats
    last_close = stats.lastClose
    last_error = stats.lastError
    return {
        "name": conn.name,
        "current": conn.name == magics.current,
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


def _noun(kind: str) -> str:
    return "message" if kind == "message" else f"{kind!r} event"


def _ended_text(conn: NamedConnection, kind: str, count: int, got: int) -> str:
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


def _timeout_text(conn: NamedConnection, kind: str, count: int, got: int, timeout: float) -> str:
    if count == 1:
        what = f"no {_noun(kind)} arrived"
    else:
        what = f"only {got} of {count} {_noun(kind)}s arrived"
    return f"{what} on {conn.name!r} within {timeout:g} s; send something first or raise --timeout"
