"""``same_json``: the one rule ``request(match='id')`` and dict matches compare values by."""

from __future__ import annotations

from typing import Any

import pytest

from ohws_jupyter.record.expect import matcher, same_json


@pytest.mark.parametrize(
    ("a", "b"),
    [(1, 1), (1, 1.0), ("1", "1"), (True, True), (None, None), ([1, {"a": 0}], [1.0, {"a": 0.0}])],
)
def test_the_same_json_value(a: Any, b: Any) -> None:
    assert same_json(a, b) and same_json(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, True),
        (0, False),
        (1.0, True),
        ("1", 1),
        (None, 0),
        (None, False),
        ([1], [True]),
        ({"a": 1}, {"a": True}),
        ({"a": 1}, {"a": 1, "b": 2}),
        ([1], (1, 2)),
    ],
)
def test_not_the_same_json_value(a: Any, b: Any) -> None:
    assert not same_json(a, b) and not same_json(b, a)


def test_a_dict_match_uses_it_for_its_values() -> None:
    test = matcher({"id": 1, "ok": True})
    assert test('{"id": 1.0, "ok": true, "more": 0}')
    assert not test('{"id": true, "ok": true}')
    assert not test('{"id": 1, "ok": 1}')
