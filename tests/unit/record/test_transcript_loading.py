"""``Transcript.load`` on files that are not what it wrote: one error, the first bad place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ohws_jupyter import BusinessError
from ohws_jupyter.core.events import Record
from ohws_jupyter.record.transcript import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    Transcript,
    TranscriptError,
)

GOOD_ENTRY = {"_ohws": {"time": 1.0, "connect": False}, "_webSocketMessages": []}
HEADER = json.dumps({"format": "ohws-transcript", "version": 1})
ROW = {"time": 1.0, "direction": ">", "kind": "message", "data": "hi", "pieces": 1}


def _har(log: Any) -> str:
    return json.dumps({"log": log})


def _jsonl(*rows: Any) -> str:
    return "\n".join([HEADER, *(json.dumps(r) for r in rows)]) + "\n"


CASES = [
    ("x.har", _har({"entries": {"a": 1}}), "log.entries", "expected an array, got an object"),
    ("x.har", _har({"entries": ["a", "b"]}), "log.entries[0]", "expected an object, got a string"),
    (
        "x.har",
        _har({"entries": [GOOD_ENTRY, GOOD_ENTRY, GOOD_ENTRY, 7]}),
        "log.entries[3]",
        "expected an object, got a number",
    ),
    ("x.har", _har([]), "log", "expected an object, got an array"),
    ("x.har", json.dumps({"log": {}}), "log", "'entries' is missing"),
    (
        "x.har",
        _har({"entries": [{**GOOD_ENTRY, "_webSocketMessages": [{"opcode": True}]}]}),
        "log.entries[0]._webSocketMessages[0].opcode",
        "expected one of 1, 2, got true",
    ),
    (
        "x.har",
        _har({"entries": [{**GOOD_ENTRY, "_webSocketMessages": "none"}]}),
        "log.entries[0]._webSocketMessages",
        "expected an array, got a string",
    ),
    (
        "x.har",
        _har({"entries": [GOOD_ENTRY], "_ohwsRoundTrips": [{"request": 0, "reply": 5}]}),
        "log._ohwsRoundTrips[0].request",
        "expected the index of a record",
    ),
    ("x.jsonl", "[1, 2]\n", "line 1", "expected an object (the 'ohws-transcript' header)"),
    ("x.jsonl", '"text"\n', "line 1", "got a string"),
    ("x.jsonl", "5\n", "line 1", "got a number"),
    ("x.jsonl", HEADER + "\n[]\n", "line 2", "expected an object, got an array"),
    ("x.jsonl", _jsonl({**ROW, "time": "noon"}), "line 2.time", "expected a number"),
    ("x.jsonl", _jsonl({**ROW, "kind": 3}), "line 2.kind", "expected one of"),
    ("x.jsonl", _jsonl(ROW, {**ROW, "data": {"base64": "%%"}}), "line 3.data.base64", "base64"),
    ("x.jsonl", _jsonl(ROW, {**ROW, "headers": ["a"]}), "line 3.headers", "expected an object"),
    ("x.jsonl", _jsonl({**ROW, "replyTo": 9}), "line 2.replyTo", "index of a record"),
    ("x.jsonl", HEADER + "\n{nope\n", "line 2", "not JSON"),
    ("x.jsonl", "\n\n", "", "the file is empty"),
]


@pytest.mark.parametrize(("name", "text", "where", "problem"), CASES)
def test_the_first_bad_place_is_named_in_one_error(
    tmp_path: Path, name: str, text: str, where: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with pytest.raises(TranscriptError) as info:
        Transcript.load(path)
    err = info.value
    assert isinstance(err, BusinessError) and err.code == 401
    assert err.where == where and problem in err.problem
    assert f"{where}: " in err.message if where else problem in err.message


@pytest.mark.parametrize("name", ["deep.har", "deep.jsonl"])
def test_deep_nesting_is_refused_without_a_recursion_error(tmp_path: Path, name: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    text = _har(None).replace("null", deep) if name.endswith(".har") else HEADER + "\n" + deep
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with pytest.raises(TranscriptError) as info:
        Transcript.load(path)
    assert f"nested more than {MAX_DEPTH} levels deep" in info.value.problem


def test_nesting_within_the_limit_loads(tmp_path: Path) -> None:
    value: Any = 1
    for _ in range(MAX_DEPTH - 2):
        value = [value]
    path = tmp_path / "ok.jsonl"
    path.write_text(_jsonl({"time": 1.0, "direction": "=", "kind": "open", "data": value}))
    assert Transcript.load(path)[0].data == value


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(TranscriptError) as info:
        Transcript.load(path)
    assert f"more than the {MAX_FILE_BYTES}" in info.value.message


def test_what_save_writes_still_loads(tmp_path: Path) -> None:
    records = [
        Record(1.0, "connect", "=", data="ws://h/"),
        Record(1.1, "message", ">", data=b"\x00\xff", pieces=1),
        Record(1.2, "message", "<", data="pong", pieces=2),
        Record(1.3, "close", "=", code=1000, reason="bye"),
    ]
    for name in ("t.jsonl", "t.har"):
        path = tmp_path / name
        Transcript(records).save(path)
        back = Transcript.load(path)
        assert [(r.kind, r.data) for r in back] == [(r.kind, r.data) for r in records]
