"""``%ws`` commands to record, replay and check: ``replay``, ``expect``, ``request``,
``export`` (every format). ``log --save`` and ``connect --reconnect`` are options
of those commands.

Each is a thin layer over the public API: :mod:`~ohws_jupyter.record.transcript`,
:mod:`~ohws_jupyter.record.replay`, :mod:`~ohws_jupyter.record.expect` and
:mod:`~ohws_jupyter.record.export`.
"""

from __future__ import annotations

import argparse
import json
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ...core.errors import BusinessError
from ...core.events import Record
from ...record.expect import (
    ExpectationError,
    describe,
    expect_record,
    matcher,
    parse_match,
    request,
)
from ...record.export import FORMATS, Code, export_code
from ...record.replay import TIMINGS, replay
from ...record.transcript import shown, transcript
from .named import settle
from .registry import argument, command, magic_arguments
from .words import parse_headers, positive_seconds, word_at

if TYPE_CHECKING:
    from .shell import WebSocketMagics

__all__: list[str] = []

_OPEN = 1  # ReadyState.OPEN, read through the public readyState
_CLOSED = 3
# Per WebSocket, the last message a %ws expect matched: the next one looks after it.
_cursor: weakref.WeakKeyDictionary[Any, Record] = weakref.WeakKeyDictionary()


def _one_word_unquoted(text: str) -> str:
    """The text as typed, or, when it is one quoted shell word, without its quotes."""
    found = word_at(text, 0)
    if found is not None and found[2] == len(text) and text[:1] in ("'", '"'):
        return found[0]
    return text


def _records(conn: Any) -> list[Record]:
    """What ``%ws log`` shows of a connection, oldest first.

    These are the very ``Record`` objects ``watch`` reports, so the last message
    a ``%ws expect`` took is found again by identity, and request/reply pairs too.
    """
    return list(conn.log())


# -- %ws replay ------------------------------------------------------------------------------
@command("replay")
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
def replay_(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Send a transcript's messages again and compare the replies; a ✓/✗ table.

    Raises an error when anything differs from the recording, so a notebook run
    by nbclient or a grader fails there.
    """
    if not args.file:
        raise UsageError("%ws replay needs a transcript file, e.g. %ws replay session.har")
    positive_seconds(args.timeout, "--timeout", zero=False)
    header = parse_headers(args.header)
    job = replay(args.file, args.to, timing=args.timing, timeout=args.timeout, header=header)
    try:
        report = settle(job, None)
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
@command(
    "expect",
    raw_text=({"-n", "--name", "--timeout", "--label"}, {"--json", "--regex", "-h", "--help"}),
)
@magic_arguments("ws expect")
@argument("-n", "--name", help="connection (default: the most recent)")
@argument("--json", action="store_true", help="MATCH is a JSON object the message contains")
@argument("--regex", action="store_true", help="MATCH is a regular expression to search for")
@argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait (default 10)")
@argument("--label", metavar="TEXT", help="what the ✓/✗ line calls this check")
@argument("match", metavar="MATCH", nargs="*", help="the message (exact, unless --json/--regex)")
def expect_(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> None:
    """Check that a message matching MATCH arrives; prints one ✓ line, or raises ✗.

    Messages that arrived since the last %ws expect on the connection count, so
    a quick reply to a %ws send in the cell before is not missed. MATCH is the
    rest of the line as typed: %ws expect --json {"type": "joined"}.
    """
    text = _one_word_unquoted(args.text)
    if not text:
        raise UsageError("%ws expect needs MATCH, e.g. %ws expect hello or --json {...}")
    if args.json and args.regex:
        raise UsageError("give either --json or --regex, not both")
    positive_seconds(args.timeout, "--timeout", zero=False)
    kind = "json" if args.json else "regex" if args.regex else "text"
    try:
        match = parse_match(text, kind)
    except BusinessError as err:
        raise UsageError(f"--{kind}: {err.detail}") from None
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
            found = settle(expect_record(ws, match, args.timeout, backlog=backlog), None)
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
@command("request", raw_text=({"-n", "--name", "--match", "--timeout"}, {"-h", "--help"}))
@magic_arguments("ws request")
@argument("-n", "--name", help="connection (default: the most recent)")
@argument(
    "--match",
    default="id",
    metavar="KEY",
    help="the JSON key a reply shares with its request (default id; added when missing)",
)
@argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait (default 10)")
@argument("data", metavar="JSON", nargs="*", help="the request, a JSON object, as typed")
def request_(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Any:
    """Send a JSON request and return the reply paired with it by a key (default id).

    A request without the key gets a fresh number. The pair and its round-trip
    time go into the transcript.
    """
    text = _one_word_unquoted(args.text)
    if not text:
        raise UsageError('%ws request needs a JSON object, e.g. %ws request {"op": "ping"}')
    positive_seconds(args.timeout, "--timeout", zero=False)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"%ws request needs JSON ({exc.msg} at column {exc.colno}), "
            'e.g. %ws request {"op": "ping"}'
        ) from None
    if not isinstance(data, dict):
        raise UsageError('%ws request needs a JSON object such as {"op": "ping"}')
    conn = magics.target(args.name)
    if conn.ws.readyState != _OPEN:
        raise UsageError(
            f"cannot send a request: {conn.name!r} is not open; "
            f"connect with %ws connect URL -n {conn.name}"
        )
    try:
        return settle(request(conn.ws, data, args.match, args.timeout), None)
    except BusinessError as err:
        raise UsageError(f"%ws request on {conn.name!r}: {err}") from None


# -- %ws export ------------------------------------------------------------------------------
@command("export")
@magic_arguments("ws export")
@argument("format", metavar="FORMAT", choices=tuple(FORMATS), help=", ".join(FORMATS))
@argument("-n", "--name", help="connection (default: the most recent)")
def export(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> Code:
    """The connection and the messages it sent as code: js, python, wscat, websocat or arkts.

    Masked credentials stay *** and are flagged for filling in.
    """
    conn = magics.target(args.name)
    ws = conn.ws
    records = transcript(ws, _records(conn))  # with the closes the user asked for told apart
    return export_code(args.format, ws.url or "", ws.options, records, conn.name)
