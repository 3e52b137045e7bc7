"""``record.transcript``'s formats, from records made here: JSON lines and HAR written,
read back and compared, credentials masked on the way in, and the one-line view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ohws_jupyter import BusinessError, Record
from ohws_jupyter.record import RoundTrip, Transcript
from ohws_jupyter.record.transcript import FORMAT, line

T0 = 1_700_000_000.0
URL = "ws://alice:s3cret@127.0.0.1:8765/chat?token=t0k&room=7"
SESSION = [
    Record(T0, "connect", "=", URL, headers={"Authorization": "Bearer s3cret", "X-Room": "7"}),
    Record(T0 + 0.010, "open", "=", "chat", headers={"Sec-WebSocket-Accept": "abc="}),
    Record(T0 + 0.020, "message", ">", '{"id": 1, "op": "ping"}', pieces=1),
    Record(T0 + 0.030, "message", "<", '{"id": 1, "op": "pong"}', pieces=1),
    Record(T0 + 0.040, "message", ">", b"\x00\xff\x10", pieces=1),
    Record(T0 + 0.050, "message", "<", "é" * 3000, pieces=2),
    Record(T0 + 0.060, "closing", ">", code=4000, reason="done"),
    Record(T0 + 0.070, "close", "=", code=4000, reason="done"),
]
PAIRS = [RoundTrip(request=2, reply=3, key=1, rtt=0.01)]


@pytest.fixture
def session() -> Transcript:
    return Transcript(SESSION, PAIRS)


def test_credentials_are_masked_on_the_way_in(session: Transcript) -> None:
    assert session.url == "ws://alice:***@127.0.0.1:8765/chat?token=***&room=7"
    assert session[0].headers == {"Authorization": "***", "X-Room": "7"}
    assert session[1].headers == {"Sec-WebSocket-Accept": "***"}
    text = session.to_jsonl() + json.dumps(session.to_har())
    assert "s3cret" not in text and "t0k" not in text and "abc=" not in text


def test_views(session: Transcript) -> None:
    assert len(session) == 8 and len(session.messages) == 4
    assert [r.data for r in session.sent] == ['{"id": 1, "op": "ping"}', b"\x00\xff\x10"]
    assert [r.pieces for r in session.received] == [1, 2]
    assert repr(session) == (
        "<Transcript ws://alice:***@127.0.0.1:8765/chat?token=***&room=7: "
        "8 records, 2 sent, 2 received>"
    )


def test_json_lines_round_trip_every_field(session: Transcript, tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    assert session.save(path) == "jsonl"
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["format"] == FORMAT and rows[0]["records"] == 8
    assert rows[5]["data"] == {"base64": "AP8Q"} and rows[5]["binary"] is True
    assert rows[4]["replyTo"] == 2 and rows[4]["key"] == 1
    back = Transcript.load(path)
    assert list(back) == list(session)
    assert back.round_trips == session.round_trips


def test_har_holds_one_websocket_entry_and_round_trips(session: Transcript, tmp_path: Path) -> None:
    path = tmp_path / "s.har"
    assert session.save(path) == "har"
    har = json.loads(path.read_text(encoding="utf-8"))
    assert har["log"]["version"] == "1.2"
    (entry,) = har["log"]["entries"]
    assert entry["_resourceType"] == "websocket"
    assert entry["response"]["status"] == 101
    assert {"name": "token", "value": "***"} in entry["request"]["queryString"]
    assert [(m["type"], m["opcode"], m["data"]) for m in entry["_webSocketMessages"]] == [
        ("send", 1, '{"id": 1, "op": "ping"}'),
        ("receive", 1, '{"id": 1, "op": "pong"}'),
        ("send", 2, "AP8Q"),  # binary as base64, as Chrome writes it
        ("receive", 1, "é" * 3000),
    ]
    back = Transcript.load(path)
    assert [(r.kind, r.direction, r.data, r.code) for r in back] == [
        (r.kind, r.direction, r.data, r.code) for r in session
    ]
    assert back.round_trips == session.round_trips


def test_without_data_only_sizes_are_kept(session: Transcript) -> None:
    rows = session.to_dicts(data=False)
    assert "data" not in rows[2] and rows[2]["size"] == len('{"id": 1, "op": "ping"}')
    assert rows[5]["size"] == 6000  # bytes of UTF-8, not characters


def test_a_slice_keeps_the_pairs_inside_it(session: Transcript) -> None:
    assert session[2:4].round_trips == (RoundTrip(0, 1, 1, 0.01),)
    assert session[3:].round_trips == ()


def test_one_connection_per_connect() -> None:
    again = Transcript([*SESSION, Record(T0 + 1, "connect", "=", "ws://127.0.0.1:1/")])
    assert [len(part) for part in again.connections()] == [8, 1]
    assert len(again.to_har()["log"]["entries"]) == 2


def test_one_line_per_record() -> None:
    lines = [line(r).split(" ", 1)[1] for r in Transcript(SESSION)]
    assert lines[0] == (
        "= connect ws://alice:***@127.0.0.1:8765/chat?token=***&room=7"
        " headers {'Authorization': '***', 'X-Room': '7'}"
    )
    assert lines[1] == "= open    protocol 'chat' headers {'Sec-WebSocket-Accept': '***'}"
    assert lines[4] == "> message b'\\x00\\xff\\x10'"
    assert lines[5].startswith("< message 'éééé") and lines[5].endswith(
        "(3000 characters)  (2 pieces)"
    )
    assert lines[6] == "> closing 4000 'done'"


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("x.txt", None, "cannot tell the format of"),
        ("x.jsonl", '{"format": "other"}\n', "is not a transcript saved by Transcript.save"),
        ("x.har", '{"log": {"entries": [{"_webSocketMessages": [{}]}]}}', "is not a transcript"),
        ("missing.jsonl", None, "cannot read the transcript"),
    ],
)
def test_mistakes_in_files_are_401(
    tmp_path: Path, name: str, content: str | None, fragment: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(BusinessError) as info:
        if name.endswith(".txt"):
            Transcript(SESSION).save(path)
        else:
            Transcript.load(path)
    assert info.value.code == 401 and fragment in info.value.message
