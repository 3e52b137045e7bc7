"""Replay of recorded sessions against the embedded lab server and plain ``websockets`` peers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ohws_jupyter import BusinessError, WebSocket, createWebSocket, createWebSocketServer
from ohws_jupyter.record.expect import expect
from ohws_jupyter.record.replay import ReplayReport, replay
from ohws_jupyter.record.transcript import Transcript, transcript
from tests.helpers import echo_handler, running_server

TIMEOUT = 10


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    server = createWebSocketServer()
    assert server.start({"serverPort": 0, "mode": "lab"}).result(TIMEOUT) is True
    yield server.url
    server.stop().result(TIMEOUT)


def client() -> WebSocket:
    return createWebSocket()


def exchange(ws: WebSocket, data: Any) -> Any:
    promise = expect(ws, lambda message: True, TIMEOUT)
    ws.send(data).result(TIMEOUT)
    return promise.result(TIMEOUT)


@pytest.fixture(scope="module")
def lab_recording(lab: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lab session saved as HAR: text, a command, binary, and a close with a code."""
    ws = client()
    ws.connect(lab, {"header": {"Authorization": "Bearer s3cret"}}).result(TIMEOUT)
    assert exchange(ws, "hello") == "hello"
    assert exchange(ws, "/text 8") == "abcdefgh"
    assert exchange(ws, "/bytes 4") == b"\x00\x01\x02\x03"
    assert exchange(ws, b"\x09") == b"\x09"
    ws.close({"code": 4000, "reason": "done"}).result(TIMEOUT)
    path = tmp_path_factory.mktemp("replay") / "lab.har"
    transcript(ws).save(path)
    return path


def rows(report: ReplayReport) -> list[tuple[str, Any, Any, bool]]:
    return [(r.direction, r.recorded, r.replayed, r.ok) for r in report.rows]


def test_an_unchanged_session_replays_as_recorded(lab_recording: Path) -> None:
    report = replay(lab_recording).result(30)
    assert report.ok and report.exit_code == 0
    assert rows(report) == [
        (">", "hello", "hello", True),
        ("<", "hello", "hello", True),
        (">", "/text 8", "/text 8", True),
        ("<", "abcdefgh", "abcdefgh", True),
        (">", "/bytes 4", "/bytes 4", True),
        ("<", b"\x00\x01\x02\x03", b"\x00\x01\x02\x03", True),
        (">", b"\x09", b"\x09", True),
        ("<", b"\x09", b"\x09", True),
        ("=", report.rows[-1].recorded, report.rows[-1].replayed, True),
    ]
    assert str(report.rows[-1].recorded) == "close 4000 done"
    assert report.notes == [
        "header Authorization was masked in the recording and is left out; "
        "give its value with header= (-H in %ws replay)"
    ]
    assert report.summary().endswith("all 9 steps as recorded")


def test_one_deliberate_difference_is_found(lab: str, lab_recording: Path, tmp_path: Path) -> None:
    # The same session, but the second message asks the lab for 9 letters instead of 8.
    changed = tmp_path / "changed.har"
    changed.write_text(lab_recording.read_text().replace('"/text 8"', '"/text 9"'))
    report = replay(changed, to=lab).result(30)
    assert not report.ok and report.exit_code == 1
    (bad,) = report.differences
    assert (bad.step, bad.direction, bad.recorded, bad.replayed) == (
        4,
        "<",
        "abcdefgh",
        "abcdefghi",
    )
    assert [r.ok for r in report.rows] == [True, True, True, False, True, True, True, True, True]
    table = report.table().splitlines()
    assert table[0].split() == ["#", "dir", "recorded", "replayed", "ok"]
    assert table[4].startswith("  4  <    'abcdefgh'") and table[4].endswith("✗")
    assert all(line.endswith("✓") for line in table[1:10] if line is not table[4])
    assert table[-1].endswith("1 of 9 steps differ")


def test_recorded_timing_keeps_the_gaps(lab: str) -> None:
    ws = client()
    ws.connect(lab).result(TIMEOUT)
    assert exchange(ws, '/delay 0.4 {"step": 1}') == '{"step": 1}'
    assert exchange(ws, "after the pause") == "after the pause"
    ws.close().result(TIMEOUT)
    t = transcript(ws)
    gap = t.sent[1].time - t.sent[0].time
    assert gap >= 0.4
    started = time.monotonic()
    report = replay(t, timing="recorded").result(30)
    took = time.monotonic() - started
    assert report.ok, report.table()
    assert took >= gap - 0.05  # the second send waited for its recorded moment


def test_missing_and_unexpected_replies_against_another_server(lab_recording: Path) -> None:
    # An echo server is not the lab: the commands come back as they were sent.
    with running_server(echo_handler) as server:
        report = replay(lab_recording, to=server.url, timeout=1).result(30)
    assert [(r.step, r.ok) for r in report.rows if not r.ok] == [(4, False), (6, False)]
    assert report.rows[3].replayed == "/text 8"
    assert report.rows[5].replayed == "/bytes 4"


def test_a_server_close_is_waited_for_and_compared(lab: str) -> None:
    ws = client()
    ws.connect(lab).result(TIMEOUT)
    closed = expect(ws, "never", TIMEOUT)
    ws.send("/close 4001 bye")
    with pytest.raises(BusinessError):
        closed.result(TIMEOUT)
    t = transcript(ws)
    report = replay(t).result(30)
    assert report.ok and [str(r.replayed) for r in report.rows] == [
        "/close 4001 bye",
        "close 4001 bye",
    ]
    # Against an echo server the close never comes, and a reply that was not recorded does.
    with running_server(echo_handler) as server:
        report = replay(t, to=server.url, timeout=0.5).result(30)
    assert [(r.direction, r.ok, r.note) for r in report.rows] == [
        (">", True, ""),
        ("<", False, "unexpected: not in the recording"),
        ("=", False, "no close within 0.5 s"),
    ]


def test_a_masked_header_can_be_given_back(tmp_path: Path) -> None:
    with running_server(echo_handler) as server:
        ws = client()
        ws.connect(server.url, {"header": {"X-Api-Key": "k-123"}}).result(TIMEOUT)
        assert json.loads(exchange(ws, "headers"))["X-Api-Key"] == "k-123"
        ws.close().result(TIMEOUT)
        path = tmp_path / "headers.jsonl"
        transcript(ws).save(path)
        assert "k-123" not in path.read_text().split("\n", 3)[1]  # the connect line is masked

        def same_key(recorded: str, replayed: str) -> bool:
            # The rest of the headers (Sec-WebSocket-Key) differs on every connection.
            return json.loads(recorded).get("X-Api-Key") == json.loads(replayed).get("X-Api-Key")

        without = replay(path, compare=same_key).result(30)
        with_key = replay(path, header={"X-Api-Key": "k-123"}, compare=same_key).result(30)
    assert [r.ok for r in without.rows] == [True, False, True]
    assert "k-123" not in str(without.rows[1].replayed)
    assert with_key.ok, with_key.table()


def test_mistakes_reject_with_401(lab_recording: Path, tmp_path: Path) -> None:
    masked = Transcript.load(lab_recording)
    text = lab_recording.read_text()
    url = json.loads(text)["log"]["entries"][0]["request"]["url"]
    hidden = tmp_path / "hidden.har"
    hidden.write_text(text.replace(url, url + "/?token=***"))
    cases = [
        (replay(hidden), "the recorded URL"),
        (replay(masked, timing="slow"), "timing must be 'fast' or 'recorded', not 'slow'"),
        (replay(masked, timeout=0), "timeout must be more than 0 seconds"),
        (replay(Transcript()), "the transcript has no connection with messages to replay"),
        (replay(tmp_path / "nothing.har"), "cannot read the transcript"),
    ]
    for promise, text in cases:
        with pytest.raises(BusinessError) as info:
            promise.result(TIMEOUT)
        assert info.value.code == 401 and text in str(info.value)
