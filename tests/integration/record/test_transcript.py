"""Transcripts of real connections to the embedded lab server: views, JSON lines, HAR, pandas."""

from __future__ import annotations

import datetime
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ohws_jupyter import BusinessError, WebSocket, createWebSocket, createWebSocketServer
from ohws_jupyter.core.events import Record
from ohws_jupyter.record.expect import expect, request
from ohws_jupyter.record.transcript import RoundTrip, Transcript, transcript

TIMEOUT = 10
SECRET = "Bearer s3cret-value"
TOKEN = "t0ken-value"

# HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) as a JSON schema: every
# required field with its type. Custom fields must start with "_", as the spec says.
_CUSTOM = {"^_": {}}
_NAME_VALUE = {
    "type": "object",
    "required": ["name", "value"],
    "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
    "patternProperties": _CUSTOM,
    "additionalProperties": False,
}
_LIST = {"type": "array", "items": _NAME_VALUE}
HAR_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["log"],
    "additionalProperties": False,
    "properties": {
        "log": {
            "type": "object",
            "required": ["version", "creator", "entries"],
            "patternProperties": _CUSTOM,
            "additionalProperties": False,
            "properties": {
                "version": {"type": "string", "const": "1.2"},
                "creator": {
                    "type": "object",
                    "required": ["name", "version"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
                },
                "browser": {"type": "object"},
                "pages": {"type": "array"},
                "comment": {"type": "string"},
                "entries": {"type": "array", "items": {"$ref": "#/definitions/entry"}},
            },
        }
    },
    "definitions": {
        "entry": {
            "type": "object",
            "required": [
                "startedDateTime",
                "time",
                "request",
                "response",
                "cache",
                "timings",
            ],
            "patternProperties": _CUSTOM,
            "additionalProperties": False,
            "properties": {
                "pageref": {"type": "string"},
                "startedDateTime": {"type": "string", "format": "date-time"},
                "time": {"type": "number", "minimum": 0},
                "request": {
                    "type": "object",
                    "required": [
                        "method",
                        "url",
                        "httpVersion",
                        "cookies",
                        "headers",
                        "queryString",
                        "headersSize",
                        "bodySize",
                    ],
                    "patternProperties": _CUSTOM,
                    "additionalProperties": False,
                    "properties": {
                        "method": {"type": "string"},
                        "url": {"type": "string"},
                        "httpVersion": {"type": "string"},
                        "cookies": {"type": "array"},
                        "headers": _LIST,
                        "queryString": _LIST,
                        "postData": {"type": "object"},
                        "headersSize": {"type": "integer"},
                        "bodySize": {"type": "integer"},
                        "comment": {"type": "string"},
                    },
                },
                "response": {
                    "type": "object",
                    "required": [
                        "status",
                        "statusText",
                        "httpVersion",
                        "cookies",
                        "headers",
                        "content",
                        "redirectURL",
                        "headersSize",
                        "bodySize",
                    ],
                    "patternProperties": _CUSTOM,
                    "additionalProperties": False,
                    "properties": {
                        "status": {"type": "integer"},
                        "statusText": {"type": "string"},
                        "httpVersion": {"type": "string"},
                        "cookies": {"type": "array"},
                        "headers": _LIST,
                        "content": {
                            "type": "object",
                            "required": ["size", "mimeType"],
                            "properties": {
                                "size": {"type": "integer"},
                                "mimeType": {"type": "string"},
                            },
                        },
                        "redirectURL": {"type": "string"},
                        "headersSize": {"type": "integer"},
                        "bodySize": {"type": "integer"},
                        "comment": {"type": "string"},
                    },
                },
                "cache": {"type": "object"},
                "timings": {
                    "type": "object",
                    "required": ["send", "wait", "receive"],
                    "patternProperties": _CUSTOM,
                    "properties": {
                        name: {"type": "number", "minimum": -1}
                        for name in ("blocked", "dns", "connect", "send", "wait", "receive", "ssl")
                    },
                },
                "serverIPAddress": {"type": "string"},
                "connection": {"type": "string"},
                "comment": {"type": "string"},
                # Chrome's WebSocket frames, as DevTools exports them.
                "_webSocketMessages": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "time", "opcode", "data"],
                        "properties": {
                            "type": {"enum": ["send", "receive"]},
                            "time": {"type": "number"},
                            "opcode": {"enum": [1, 2]},
                            "data": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


def validate_har(har: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft7Validator(HAR_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(har)
    for entry in har["log"]["entries"]:
        # The format checker may lack an RFC 3339 parser: check the dates ourselves too.
        started = datetime.datetime.fromisoformat(entry["startedDateTime"])
        assert started.tzinfo is not None


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    server = createWebSocketServer()
    assert server.start({"serverPort": 0, "mode": "lab"}).result(TIMEOUT) is True
    yield server.url
    server.stop().result(TIMEOUT)


def exchange(ws: WebSocket, data: Any) -> Any:
    """Send ``data`` and return the next whole message received."""
    promise = expect(ws, lambda message: True, TIMEOUT)
    ws.send(data).result(TIMEOUT)
    return promise.result(TIMEOUT)


def lab_session(url: str) -> WebSocket:
    """A session with text, binary, a 3-piece message, credentials, and a close with a code."""
    ws = createWebSocket()
    options = {"header": {"Authorization": SECRET, "X-Trace": "7"}}
    ws.connect(f"{url}/room?token={TOKEN}&page=2", options).result(TIMEOUT)
    assert exchange(ws, "hello") == "hello"
    assert exchange(ws, b"\x00\x01\xfe\xff") == b"\x00\x01\xfe\xff"
    assert len(exchange(ws, "/text 10000")) == 10000
    ws.close({"code": 4000, "reason": "done"}).result(TIMEOUT)
    return ws


def test_transcript_is_a_sequence_of_every_record(lab: str) -> None:
    ws = lab_session(lab)
    t = transcript(ws)
    kinds = [(r.direction, r.kind) for r in t]
    assert kinds == [
        ("=", "connect"),
        ("=", "open"),
        (">", "message"),
        ("<", "message"),
        (">", "message"),
        ("<", "message"),
        (">", "message"),
        ("<", "message"),
        (">", "closing"),
        ("=", "close"),
    ]
    assert len(t) == 10 and t[0].kind == "connect" and t[-1].code == 4000
    assert [r.data for r in t.sent] == ["hello", b"\x00\x01\xfe\xff", "/text 10000"]
    assert t.received[2].pieces == 3  # 10000 bytes arrive in 4 KiB pieces
    assert all(a.time <= b.time for a, b in itertools.pairwise(t))
    part = t[2:4]
    assert isinstance(part, Transcript) and [r.data for r in part] == ["hello", "hello"]
    assert repr(t).endswith(": 10 records, 3 sent, 3 received>")
    # Credentials are masked from the start: the URL's token and the Authorization value.
    assert t.url == f"{lab}/room?token=***&page=2"
    assert t[0].headers == {"Authorization": "***", "X-Trace": "7"}


def test_a_close_the_user_asked_for_is_sent_and_the_servers_is_received(lab: str) -> None:
    ws = createWebSocket()
    ws.connect(lab).result(TIMEOUT)
    closed = expect(ws, "never", TIMEOUT)
    ws.send("/close 4001 bye")  # the lab server closes
    with pytest.raises(BusinessError):
        closed.result(TIMEOUT)
    ws.connect(lab).result(TIMEOUT)
    ws.close({"code": 4000, "reason": "mine"}).result(TIMEOUT)
    closes = [(r.direction, r.kind, r.code) for r in transcript(ws) if "clos" in r.kind]
    assert closes == [
        ("<", "closing", 4001),  # the answer to the server's close frame
        ("=", "close", 4001),
        (">", "closing", 4000),
        ("=", "close", 4000),
    ]


def test_har_is_valid_har_1_2_and_round_trips(lab: str, tmp_path: Path) -> None:
    t = transcript(lab_session(lab))
    path = tmp_path / "session.har"
    assert t.save(path) == "har"
    text = path.read_text()
    assert SECRET not in text and TOKEN not in text and "s3cret" not in text
    har = json.loads(text)
    validate_har(har)
    (entry,) = har["log"]["entries"]
    assert entry["_resourceType"] == "websocket"
    assert entry["request"]["url"] == f"{lab}/room?token=***&page=2"
    assert {"name": "Authorization", "value": "***"} in entry["request"]["headers"]
    assert {"name": "token", "value": "***"} in entry["request"]["queryString"]
    assert entry["response"]["status"] == 101
    messages = entry["_webSocketMessages"]
    assert [(m["type"], m["opcode"]) for m in messages] == [
        ("send", 1),
        ("receive", 1),
        ("send", 2),
        ("receive", 2),
        ("send", 1),
        ("receive", 1),
    ]
    assert messages[2]["data"] == "AAH+/w=="  # binary data is base64, as Chrome writes it
    assert messages[0]["time"] == pytest.approx(t.sent[0].time)

    loaded = Transcript.load(path)
    assert len(loaded) == len(t)
    for before, after in zip(t.to_dicts(), loaded.to_dicts(), strict=True):
        assert after.pop("time") == pytest.approx(before.pop("time"), abs=1e-6)
        assert after == before


def test_jsonl_round_trips_exactly(lab: str, tmp_path: Path) -> None:
    t = transcript(lab_session(lab))
    path = tmp_path / "session.jsonl"
    assert t.save(path) == "jsonl"
    lines = [json.loads(s) for s in path.read_text().splitlines()]
    assert lines[0]["format"] == "ohws-transcript" and lines[0]["records"] == len(t)
    assert lines[5]["data"] == {"base64": "AAH+/w=="} and lines[5]["binary"] is True
    assert SECRET not in path.read_text() and TOKEN not in path.read_text()
    loaded = Transcript.load(path)
    assert loaded.to_dicts() == t.to_dicts()
    assert loaded.received[1].data == b"\x00\x01\xfe\xff"
    # Without data, only sizes are kept.
    sizes = json.loads(t.to_jsonl(data=False).splitlines()[5])
    assert "data" not in sizes and sizes["size"] == 4


def test_request_pairs_go_into_the_transcript_and_its_files(lab: str, tmp_path: Path) -> None:
    ws = createWebSocket()
    ws.connect(lab).result(TIMEOUT)
    assert request(ws, {"id": "a", "n": 1}).result(TIMEOUT) == '{"id":"a","n":1}'
    ws.close().result(TIMEOUT)
    t = transcript(ws)
    (trip,) = t.round_trips
    assert t[trip.request].direction == ">" and t[trip.reply].direction == "<"
    assert trip.key == "a" and 0 <= trip.rtt < TIMEOUT
    assert trip.rtt == pytest.approx(t[trip.reply].time - t[trip.request].time)
    for name in ("pairs.har", "pairs.jsonl"):
        t.save(tmp_path / name)
        assert Transcript.load(tmp_path / name).round_trips == (trip,)
    assert t.to_dicts()[trip.reply]["replyTo"] == trip.request


def test_a_failed_connect_is_a_har_entry_with_its_error(tmp_path: Path) -> None:
    ws = createWebSocket()
    with pytest.raises(BusinessError):
        ws.connect("ws://127.0.0.1:9/?token=abc").result(TIMEOUT)  # port 9: nothing listens
    har = transcript(ws).to_har(tmp_path / "failed.har")
    validate_har(har)
    (entry,) = har["log"]["entries"]
    assert entry["response"]["status"] == 0
    assert "connection refused" in entry["_error"] and "abc" not in json.dumps(har)
    loaded = Transcript.load(tmp_path / "failed.har")
    assert [r.kind for r in loaded] == ["connect", "error"]
    assert loaded[1].error.code == 200


def test_a_browser_har_loads_too(tmp_path: Path) -> None:
    """A HAR without our custom fields, as Chrome DevTools saves it."""
    har = {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "entries": [
                {
                    "startedDateTime": "2026-01-02T03:04:05.678Z",
                    "time": 12.5,
                    "request": {
                        "method": "GET",
                        "url": "wss://example.test/socket",
                        "httpVersion": "HTTP/1.1",
                        "cookies": [],
                        "headers": [{"name": "Origin", "value": "https://example.test"}],
                        "queryString": [],
                        "headersSize": -1,
                        "bodySize": 0,
                    },
                    "response": {
                        "status": 101,
                        "statusText": "Switching Protocols",
                        "httpVersion": "HTTP/1.1",
                        "cookies": [],
                        "headers": [],
                        "content": {"size": 0, "mimeType": "x-unknown"},
                        "redirectURL": "",
                        "headersSize": -1,
                        "bodySize": -1,
                    },
                    "cache": {},
                    "timings": {"send": 0, "wait": 3, "receive": 0},
                    "_resourceType": "websocket",
                    "_webSocketMessages": [
                        {"type": "send", "time": 1767323045.7, "opcode": 1, "data": "ping"},
                        {"type": "receive", "time": 1767323045.8, "opcode": 2, "data": "AQI="},
                    ],
                }
            ],
        }
    }
    validate_har(har)
    path = tmp_path / "chrome.har"
    path.write_text(json.dumps(har))
    t = Transcript.load(path)
    assert [(r.direction, r.kind) for r in t] == [
        ("=", "connect"),
        ("=", "open"),
        (">", "message"),
        ("<", "message"),
    ]
    assert t.url == "wss://example.test/socket"
    assert t.received[0].data == b"\x01\x02"


def test_load_and_save_mistakes_are_401(tmp_path: Path) -> None:
    with pytest.raises(BusinessError) as info:
        Transcript.load(tmp_path / "missing.har")
    assert info.value.code == 401 and "cannot read the transcript" in str(info.value)
    bad = tmp_path / "notes.jsonl"
    bad.write_text('{"hello": 1}\n')
    with pytest.raises(BusinessError) as info:
        Transcript.load(bad)
    assert info.value.code == 401 and "is not a transcript saved by Transcript.save" in str(
        info.value
    )
    with pytest.raises(BusinessError) as info:
        Transcript([]).save(tmp_path / "session.txt")
    assert info.value.code == 401 and "name it .jsonl (JSON lines) or .har (HAR)" in str(info.value)


def test_pretty_view_is_one_line_per_record() -> None:
    from IPython.lib.pretty import pretty

    t = Transcript(
        [
            Record(0.0, "connect", "=", data="ws://h/?token=abc"),
            Record(1.0, "message", ">", data="x" * 500, pieces=1),
            Record(2.0, "close", "=", code=1000, reason="bye"),
        ]
    )
    lines = pretty(t).splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("= connect ws://h/?token=***")
    assert lines[1].endswith("… (500 characters)")
    assert lines[2].endswith("= close   1000 'bye'")
    assert pretty(Transcript()) == "(no records)"


def test_to_dataframe_with_pandas(lab: str) -> None:
    pd = pytest.importorskip("pandas")
    frame = transcript(lab_session(lab)).to_dataframe()
    assert list(frame.columns) == [
        "time",
        "direction",
        "kind",
        "data",
        "size",
        "pieces",
        "code",
        "reason",
        "error",
    ]
    assert len(frame) == 10
    assert frame["size"].dropna().tolist() == [5, 5, 4, 4, 11, 10000]
    assert isinstance(frame["time"].iloc[0], pd.Timestamp)


def test_to_dataframe_without_pandas_names_the_extra() -> None:
    # A fresh interpreter in which importing pandas fails, as where it is not installed.
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "from ohws_jupyter.record.transcript import Transcript\n"
        "try:\n"
        "    Transcript().to_dataframe()\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(type(exc).__name__, exc.name, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == (
        "ModuleNotFoundError pandas Transcript.to_dataframe() needs pandas, which is not "
        "installed; install the extra with: pip install 'ohws_jupyter[pandas]'"
    )


def test_a_transcript_taken_late_still_has_the_whole_session(lab: str) -> None:
    ws = createWebSocket()  # nothing watches it: its own history is enough
    ws.connect(lab).result(TIMEOUT)
    assert exchange(ws, "early") == "early"
    ws.close().result(TIMEOUT)
    t = ws.transcript()
    assert [(r.direction, r.kind) for r in t] == [
        ("=", "connect"),
        ("=", "open"),
        (">", "message"),
        ("<", "message"),
        (">", "closing"),
        ("=", "close"),
    ]
    assert [r.data for r in t.messages] == ["early", "early"]
    # history() and watch() report the same records, down to the time.
    seen: list[Record] = []
    ws.watch(seen.append, replay=True)
    assert seen == ws.history() == list(t)


def test_round_trips_survive_slicing() -> None:
    records = [
        Record(float(i), "message", ">" if i % 2 == 0 else "<", data=str(i)) for i in range(4)
    ]
    t = Transcript(records, [RoundTrip(0, 1, 1, 1.0), RoundTrip(2, 3, 2, 1.0)])
    assert t[2:].round_trips == (RoundTrip(0, 1, 2, 1.0),)
    assert t[1:3].round_trips == ()
