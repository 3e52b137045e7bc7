"""The panel's composer input, parsed without a widget: each mode's rules, saved messages,
and the sizes and close-code texts the panel shows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ohws_jupyter.jupyter.panel_model import (
    MODES,
    SAVED_TEXT_MAX,
    close_code_text,
    format_size,
    parse_composer,
    saved_item,
)


def test_text_is_sent_as_typed() -> None:
    for text in ("", " padded ", "line\nbreak", "{not json", "😀"):
        assert parse_composer(text, "text") == text


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ('{\n  "a": [1, 2],\n  "b": null\n}', '{"a":[1,2],"b":null}'),
        ('"héllo"', '"héllo"'),  # kept as UTF-8 text, not \\u escapes
        ("  42  ", "42"),
        ("[]", "[]"),
    ],
)
def test_json_is_checked_and_sent_compact(typed: str, sent: str) -> None:
    assert parse_composer(typed, "json") == sent
    assert json.loads(sent) == json.loads(typed)


@pytest.mark.parametrize(
    ("typed", "where"),
    [("{", "line 1, column 2"), ('{"a": 1,\n}', "line 2, column 1"), ("", "line 1, column 1")],
)
def test_bad_json_says_where(typed: str, where: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_composer(typed, "json")
    assert str(info.value).startswith("not valid JSON: ") and f"({where})" in str(info.value)


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("01ff", b"\x01\xff"),
        ("0x01 FF", b"\x01\xff"),
        ("01 02\n03\t04", b"\x01\x02\x03\x04"),
        ("", b""),
        ("0x", b""),
    ],
)
def test_hex_is_pairs_of_digits_spaces_allowed(typed: str, sent: bytes) -> None:
    assert parse_composer(typed, "hex") == sent


@pytest.mark.parametrize("typed", ["abc", "0g", "0x1", "01 f", "zz"])
def test_bad_hex_says_what_to_type(typed: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_composer(typed, "hex")
    assert str(info.value) == "not valid hex: use pairs of 0-9/a-f digits, spaces allowed"


def test_base64_is_decoded_strictly() -> None:
    assert parse_composer("AQL/", "base64") == b"\x01\x02\xff"
    assert parse_composer("AQ L/\n", "base64") == b"\x01\x02\xff"  # whitespace is ignored
    for bad in ("AQL", "AQ*/", "A==="):
        with pytest.raises(ValueError) as info:
            parse_composer(bad, "base64")
        assert str(info.value).startswith("not valid base64: ")


def test_an_unknown_mode_names_the_modes() -> None:
    assert MODES == ("text", "json", "hex", "base64")
    with pytest.raises(ValueError) as info:
        parse_composer("x", "morse")
    assert str(info.value) == "unknown composer mode 'morse'; use one of text, json, hex, base64"


# -- saved messages ---------------------------------------------------------------------------
def test_a_saved_message_is_checked_when_saved() -> None:
    assert saved_item("  ping ", '{"op": "ping"}', "json") == {
        "name": "ping",
        "mode": "json",
        "text": '{"op": "ping"}',
    }
    assert saved_item("raw", "x")["mode"] == "text"


@pytest.mark.parametrize(
    ("name", "text", "mode", "why"),
    [
        ("", "x", "text", "a saved message needs a name"),
        ("   ", "x", "text", "a saved message needs a name"),
        (None, "x", "text", "a saved message needs a name"),
        ("n" * 81, "x", "text", "name must be at most 80 characters"),
        ("n", b"x", "text", "text must be a str, not bytes"),
        ("n", "x" * (SAVED_TEXT_MAX + 1), "text", "at most 1,048,576 characters"),
        ("n", "{", "json", "not valid JSON"),
        ("n", "zz", "hex", "not valid hex"),
        ("n", "x", "morse", "unknown composer mode 'morse'"),
    ],
)
def test_a_bad_saved_message_is_refused(name: Any, text: Any, mode: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        saved_item(name, text, mode)


# -- what the panel shows ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (5000, "4.9 KiB"), (1 << 20, "1.0 MiB")],
)
def test_sizes_for_people(size: int, shown: str) -> None:
    assert format_size(size) == shown


def test_every_close_code_has_a_sentence() -> None:
    for code in (1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009, 1010, 1011):
        assert close_code_text(code).endswith("."), code
    assert close_code_text(4123).startswith("Application code (4000-4999)")
    assert close_code_text(3001).startswith("Registered code (3000-3999)")
    assert close_code_text(999) == "Unknown close code."
    assert close_code_text(None) == ""
