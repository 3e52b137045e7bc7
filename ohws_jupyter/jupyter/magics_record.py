"""``%ws`` commands to record, replay and check: ``log --save``, ``replay``, ``expect``,
``request``, ``export`` (every format) and ``connect --reconnect``.

Each command is a function ``command(magics, args, cell)`` with its own
argparse parser (IPython's ``magic_arguments``; a user mistake raises
``UsageError``), like the commands of :mod:`ohws_jupyter.magics`, whose router
takes them all with one line::

    COMMANDS.update(magics_record.commands(COMMANDS))

``log`` and ``connect`` wrap the router's own commands, adding ``--save`` and
``--reconnect`` to their parsers. Every command is a thin layer over the
public API: :mod:`~ohws_jupyter.transcript`, :mod:`~ohws_jupyter.replay`,
:mod:`~ohws_jupyter.expect`, :mod:`~ohws_jupyter.export` and
:mod:`~ohws_jupyter.reconnect`.
"""

from __future__ import annotations

import argparse
import json
import re
import time
import weakref
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser, argument, magic_arguments

from ..client.reconnect import enable_reconnect
from ..core.errors import BusinessError
from ..core.events import Record
from ..engine.promise import Promise
from ..engine.runtime import IN_BROWSER, can_block
from ..record.expect import ExpectationError, describe, expect_record, matcher, request
from ..record.export import FORMATS, Code, export_code
from ..record.replay import TIMINGS, replay
from ..record.transcript import shown, transcript

__all__ = [
    "check_can_wait",
    "commands",
    "expect_command",
    "export_command",
    "parse_reconnect",
    "replay_command",
    "request_command",
    "with_reconnect",
    "with_save",
]

Command = Callable[[Any, argparse.Namespace, "str | None"], Any]
_OPEN = 1  # ReadyState.OPEN, read through the public readyState
_CLOSED = 3
# Blocking waits wake this often, so a kernel interrupt stops them promptly.
_POLL = 0.05
# Per WebSocket, the last message a %ws expect matched: the next one looks after it.
_cursor: weakref.WeakKeyDictionary[Any, Record] = weakref.WeakKeyDictionary()


def _wait(promise: Promise[Any], timeout: float | None) -> Any:
    """``promise.result(timeout)`` in short steps, so that Ctrl-C gets through."""
    if IN_BROWSER:
        # The page's loop settles it while this call is suspended: one wait, no steps.
        check_can_wait()
        return promise.result(timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = _POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic()))
        try:
            return promise.result(step)
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                raise


def check_can_wait() -> None:
    """Raise a UsageError where a ``%ws`` command cannot wait (a browser without JSPI)."""
    if not can_block():
        raise UsageError(
            "the %ws magics wait for the network, and this browser cannot suspend Python "
            "to wait (it lacks JavaScript Promise Integration); use the API with await, "
            "or a current Chromium"
        )


def _records(conn: Any) -> list[Record]:
    """What ``%ws log`` shows of a connection (bounded by ``LOG_SIZE``), oldest first.

    These are the very ``Record`` objects ``watch`` reports, so the last message
    a ``%ws expect`` took is found again by identity, and request/reply pairs too.
    """
    return list(conn.log())


def _seconds(value: float, option: str) -> float:
    if not value > 0 or value == float("inf"):
        raise UsageError(f"{option} must be more than 0 seconds, not {value:g}")
    return value


# -- %ws replay ------------------------------------------------------------------------------
@magic_arguments("ws replay")
@argument("file", metavar="FILE", nargs="?", help="a transcript saved with %%ws log --save")
@argument("--to", metavar="URL", help="replay against this URL (default: the recorded one)")
@argument(
    "--timing",
    choices=TIMINGS,
    default="fast",
    help="fast: send once the earlier replies are back; recorded: at the recorded times",
)
@argument("--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for each reply")
@argument(
    "-H",
    "--header",
    action="append",
    default=[],
    metavar="'NAME: VALUE'",
    help="request header to send, e.g. one masked in the recording; repeat for more",
)
def replay_command(magics: Any, args: argparse.Namespace, cell: str | None) -> Any:
    """Send a transcript's messages again and compare the replies; a ✓/✗ table.

    Raises an error when anything differs from the recording, so a notebook run
    by nbclient or a grader fails there.
    """
    if not args.file:
        raise UsageError("%ws replay needs a transcript file, e.g. %ws replay session.har")
    _seconds(args.timeout, "--timeout")
    header = {}
    for item in args.header:
        name, colon, value = item.partition(":")
        if not colon or not name.strip():
            raise UsageError("a header needs a colon; write it as -H 'Name: value'")
        header[name.strip()] = value.strip()
    job = replay(args.file, args.to, timing=args.timing, timeout=args.timeout, header=header)
    try:
        report = _wait(job, None)
    except BusinessError as err:
        raise UsageError(f"%ws replay: {err}") from None
    print(report.table())
    if not report.ok:
        bad = len(report.differences)
        raise UsageError(
            f"%ws replay: {bad} of {len(report.rows)} steps differ from the recording "
            "(the ✗ rows above)"
        )
    return None


# -- %ws expect ------------------------------------------------------------------------------
@magic_arguments("ws expect")
@argument("-n", "--name", help="connection (default: the most recent)")
@argument("--json", action="store_true", help="MATCH is a JSON object the message contains")
@argument("--regex", action="store_true", help="MATCH is a regular expression to search for")
@argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait (default 10)")
@argument("--label", metavar="TEXT", help="what the ✓/✗ line calls this check")
@argument("match", metavar="MATCH", nargs="*", help="the message (exact, unless --json/--regex)")
def expect_command(magics: Any, args: argparse.Namespace, cell: str | None) -> None:
    """Check that a message matching MATCH arrives; prints one ✓ line, or raises ✗.

    Messages that arrived since the last %ws expect on the connection count, so
    a quick reply to a %ws send in the cell before is not missed. Quote JSON in
    single quotes: %ws expect --json '{"type": "joined"}'.
    """
    text = " ".join(args.match)
    if not text:
        raise UsageError("%ws expect needs MATCH, e.g. %ws expect hello or --json '{...}'")
    if args.json and args.regex:
        raise UsageError("give either --json or --regex, not both")
    _seconds(args.timeout, "--timeout")
    match: Any = text
    if args.json:
        try:
            match = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"--json needs a JSON object ({exc.msg} at column {exc.colno}); put it in "
                'single quotes, e.g. --json \'{"type": "joined"}\''
            ) from None
        if not isinstance(match, dict):
            raise UsageError('--json needs a JSON object such as \'{"type": "joined"}\'')
    elif args.regex:
        try:
            match = re.compile(text)
        except re.error as exc:
            raise UsageError(f"--regex {text!r} is not a regular expression: {exc}") from None
    conn = magics.target(args.name)
    label = args.label or f"expect {describe(match)}"
    ws = conn.ws
    backlog = _unexpected(ws, _records(conn))
    started = time.monotonic()
    if ws.readyState == _CLOSED:
        found = _first(backlog, matcher(match))
        if found is None:
            last = (
                f"last received {shown(backlog[-1].data, 120)}" if backlog else "nothing received"
            )
            raise UsageError(
                f"✗ {label}: expected {describe(match)}, but {conn.name!r} is closed; {last}"
            )
    else:
        try:
            found = _wait(expect_record(ws, match, args.timeout, backlog=backlog), None)
        except ExpectationError as err:
            raise UsageError(f"✗ {label} on {conn.name!r}: {err}") from None
        except BusinessError as err:
            raise UsageError(f"%ws expect: {err}") from None
    _cursor[ws] = found
    took = time.monotonic() - started
    print(f"✓ {label} on {conn.name!r}: {shown(found.data, 120)} ({took:.2f} s)")


def _unexpected(ws: Any, records: list[Record]) -> list[Record]:
    """Received messages of the current connection after the last one %ws expect took."""
    start = 0
    for i in range(len(records) - 1, -1, -1):
        if records[i].kind == "connect":
            start = i + 1
            break
    cursor = _cursor.get(ws)
    if cursor is not None:
        for i in range(len(records) - 1, start - 1, -1):
            if records[i] is cursor:
                start = i + 1
                break
        else:
            # The cursor left the (bounded) log, or is of an earlier connection.
            start = max(start, next((i for i, r in enumerate(records) if r.time > cursor.time), 0))
    return [r for r in records[start:] if r.kind == "message" and r.direction == "<"]


def _first(records: list[Record], test: Callable[[Any], bool]) -> Record | None:
    for rec in records:
        try:
            if test(rec.data):
                return rec
        except Exception:
            continue
    return None


# -- %ws request -----------------------------------------------------------------------------
@magic_arguments("ws request")
@argument("-n", "--name", help="connection (default: the most recent)")
@argument(
    "--match",
    default="id",
    metavar="KEY",
    help="the JSON key a reply shares with its request (default id; added when missing)",
)
@argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait (default 10)")
@argument("data", metavar="JSON", nargs="*", help="the request, a JSON object in single quotes")
def request_command(magics: Any, args: argparse.Namespace, cell: str | None) -> Any:
    """Send a JSON request and return the reply paired with it by a key (default id).

    A request without the key gets a fresh number. The pair and its round-trip
    time go into the transcript.
    """
    text = " ".join(args.data)
    if not text:
        raise UsageError('%ws request needs a JSON object, e.g. %ws request \'{"op": "ping"}\'')
    _seconds(args.timeout, "--timeout")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"%ws request needs JSON ({exc.msg} at column {exc.colno}); put it in single "
            'quotes, e.g. %ws request \'{"op": "ping"}\''
        ) from None
    if not isinstance(data, dict):
        raise UsageError('%ws request needs a JSON object such as \'{"op": "ping"}\'')
    conn = magics.target(args.name)
    if conn.ws.readyState != _OPEN:
        raise UsageError(
            f"cannot send a request: {conn.name!r} is not open; "
            f"connect with %ws connect URL -n {conn.name}"
        )
    try:
        return _wait(request(conn.ws, data, args.match, args.timeout), None)
    except BusinessError as err:
        raise UsageError(f"%ws request on {conn.name!r}: {err}") from None


# -- %ws export ------------------------------------------------------------------------------
@magic_arguments("ws export")
@argument("format", metavar="FORMAT", choices=tuple(FORMATS), help=", ".join(FORMATS))
@argument("-n", "--name", help="connection (default: the most recent)")
def export_command(magics: Any, args: argparse.Namespace, cell: str | None) -> Code:
    """The connection and the messages it sent as code: js, python, wscat, websocat or arkts.

    Masked credentials stay *** and are flagged for filling in.
    """
    conn = magics.target(args.name)
    ws = conn.ws
    records = transcript(ws, _records(conn))  # with the closes the user asked for told apart
    return export_code(args.format, ws.url or "", ws.options, records, conn.name)


# -- wrappers of the router's own commands ------------------------------------------------------
def _extended(original: Command, add: Callable[[MagicArgumentParser], None]) -> MagicArgumentParser:
    """A new parser with ``original``'s arguments and more; the original is left as it is."""
    base = original.parser  # type: ignore[attr-defined]
    parser = MagicArgumentParser(
        prog=base.prog, description=base.description, parents=[base], add_help=False
    )
    add(parser)
    return parser


def with_save(original: Command) -> Command:
    """``%ws log`` with ``--save FILE``: write the transcript; the format follows the suffix."""

    def add(parser: MagicArgumentParser) -> None:
        parser.add_argument(
            "--save",
            metavar="FILE",
            help="write every record kept to FILE: .har (HAR, Chrome) or .jsonl (JSON lines)",
        )

    def log(magics: Any, args: argparse.Namespace, cell: str | None) -> Any:
        if args.save is None:
            return original(magics, args, cell)
        conn = magics.target(args.name)
        t = transcript(conn.ws, _records(conn))
        try:
            kind = t.save(args.save)
        except BusinessError as err:
            raise UsageError(f"%ws log --save: {err}") from None
        print(f"saved {len(t)} records of {conn.name!r} to {args.save} ({kind.upper()})")
        return None

    log.wraps = original  # type: ignore[attr-defined]
    log.parser = _extended(original, add)  # type: ignore[attr-defined]
    log.__doc__ = log.parser.format_help()  # type: ignore[attr-defined]
    return log


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


def with_reconnect(original: Command) -> Command:
    """``%ws connect`` with ``--reconnect [SPEC]``: reconnect after an unexpected close."""

    def add(parser: MagicArgumentParser) -> None:
        parser.add_argument(
            "--reconnect",
            nargs="?",
            const="true",
            metavar="SPEC",
            help="reconnect after a close you did not ask for; SPEC: attempts, or "
            '\'{"attempts": N, "minDelay": S, "maxDelay": S, "factor": F}\'',
        )

    def connect(magics: Any, args: argparse.Namespace, cell: str | None) -> Any:
        policy = None if args.reconnect is None else parse_reconnect(args.reconnect)
        if policy is not None:
            from ..core.options import check_reconnect

            try:
                check_reconnect(policy)  # a bad policy fails before connecting
            except BusinessError as err:
                raise UsageError(f"--reconnect: {err}") from None
        ws = original(magics, args, cell)
        if policy is not None and ws is not None:
            enable_reconnect(ws, policy)
        return ws

    connect.wraps = original  # type: ignore[attr-defined]
    connect.parser = _extended(original, add)  # type: ignore[attr-defined]
    connect.__doc__ = connect.parser.format_help()  # type: ignore[attr-defined]
    return connect


def commands(existing: dict[str, Command]) -> dict[str, Command]:
    """The commands of this module, for ``COMMANDS.update(commands(COMMANDS))``.

    Args:
        existing: The router's commands; ``log`` and ``connect`` are wrapped.
    """
    out: dict[str, Command] = {
        "replay": replay_command,
        "expect": expect_command,
        "request": request_command,
        "export": export_command,
    }
    # Wrapping twice would add the option twice: a wrapper is kept as it is.
    if "log" in existing:
        log = existing["log"]
        out["log"] = log if getattr(log, "wraps", None) else with_save(log)
    if "connect" in existing:
        connect = existing["connect"]
        out["connect"] = connect if getattr(connect, "wraps", None) else with_reconnect(connect)
    return out
