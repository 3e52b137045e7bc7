"""The lessons' helpers on their own (no network, no kernel): predictions and exercises."""

from __future__ import annotations

import asyncio

import pytest

from ohws_jupyter.lessons import Lesson


def stub(x: int) -> int:
    raise NotImplementedError


def double(x: int) -> int:
    return 2 * x


def wrong(x: int) -> int:
    return x


def doubles_two(fn) -> None:
    assert fn(2) == 4, f"fn(2) should be 4, not {fn(2)}"


def test_reveal_prints_and_never_fails(capsys: pytest.CaptureFixture[str]) -> None:
    lesson = Lesson("x")
    lesson.reveal("a", None, 3)
    lesson.reveal("b", 3, 3, why="because")
    lesson.reveal("c", 2, 3)
    assert capsys.readouterr().out.splitlines() == [
        "a: observed 3 (no prediction written)",
        "b: ✓ you predicted 3: right",
        "  why: because",
        "c: ✗ you predicted 2; observed 3",
    ]


def test_check_uses_the_reference_while_the_stub_is_there(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lesson = Lesson("x", goals=["double a number"])
    assert lesson.check("double", stub, double, doubles_two) is double  # the reference, for now
    assert "not done yet (the reference answer passes" in capsys.readouterr().out
    assert lesson.check("double again", double, stub, doubles_two) is double  # yours
    assert capsys.readouterr().out == "double again: ✓ your answer passes every check\n"
    with pytest.raises(AssertionError, match="fn\\(2\\) should be 4, not 2"):
        lesson.check("wrong", wrong, double, doubles_two)
    assert "wrong: ✗ not yet: fn(2) should be 4, not 2" in capsys.readouterr().out
    with pytest.raises(AssertionError):  # a broken reference answer is a bug in the lesson
        lesson.check("broken", stub, wrong, doubles_two)
    lesson.reveal("p", 1, 1)
    capsys.readouterr()
    lesson.checkpoint({"why?": "  because\n it is  ", "how?": ""})
    assert capsys.readouterr().out.splitlines() == [
        "checkpoint of x",
        "  goal: double a number",
        "  exercise   double: not done",
        "  exercise   double again: passed",
        "  exercise   wrong: wrong",
        "  prediction p: right",
        "  answer     why?: because it is",
        "  answer     how?: (no answer yet)",
        "  2 of 4 exercises and predictions done and right",
    ]


def test_check_async_awaits_the_test(capsys: pytest.CaptureFixture[str]) -> None:
    async def check(fn) -> None:
        await asyncio.sleep(0)
        assert fn(1) == 2

    lesson = Lesson("x")
    asyncio.run(lesson.check_async("async", stub, double, check))
    asyncio.run(lesson.check_async("sync test", double, stub, doubles_two))
    out = capsys.readouterr().out
    assert "async: not done yet" in out and "sync test: ✓" in out
