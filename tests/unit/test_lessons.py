"""The lessons' helpers on their own (no network, no kernel): predictions and exercises."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ohws_jupyter import lesson_answers
from ohws_jupyter.lessons import Lesson, same_meaning
from tests.helpers import ROOT


def stub(x: int) -> int:
    raise NotImplementedError


def double(x: int) -> int:
    return 2 * x


def wrong(x: int) -> int:
    return x


def doubles_two(fn) -> None:
    assert fn(2) == 4, f"fn(2) should be 4, not {fn(2)}"


def test_reveal_prints_and_never_fails(capsys: pytest.CaptureFixture[str]) -> None:
    lesson = Lesson("x", teacher=False)
    lesson.reveal("a", None, 3, why="hidden until a prediction is written")
    lesson.reveal("b", 3, 3, why="because")
    lesson.reveal("c", 2, 3)
    assert capsys.readouterr().out.splitlines() == [
        "a: no prediction written: fill it in above and run this cell again to compare",
        "b: ✓ you predicted 3: right",
        "  why: because",
        "c: ✗ you predicted 2; observed 3",
    ]


def test_a_teacher_sees_what_was_observed_without_a_prediction(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OHWS_TEACHER", "1")
    Lesson("x").reveal("a", None, 3, why="because")
    assert capsys.readouterr().out.splitlines() == [
        "a: observed 3 (no prediction written)",
        "  why: because",
    ]


@pytest.mark.parametrize(
    ("prediction", "observed"),
    [
        ("It is refused.", "it is refused"),
        ("  IT   is refused ", "it is refused"),
        ("'fewer'", "fewer"),
        ("1009", 1009),
        (1009.0, 1009),
        ("15,000", 15000),
        ([4096, "4095"], [4096, 4095]),
        ((1, 2), [1, 2]),
        (True, True),
    ],
)
def test_a_prediction_is_judged_by_its_meaning(prediction: Any, observed: Any) -> None:
    assert same_meaning(prediction, observed)


@pytest.mark.parametrize(
    ("prediction", "observed"),
    [
        ("it opens", "it is refused"),
        ("1008", 1009),
        (True, 1),
        (1, True),
        ([4096], [4096, 4095]),
        ("more", "fewer"),
    ],
)
def test_a_different_prediction_is_wrong(prediction: Any, observed: Any) -> None:
    assert not same_meaning(prediction, observed)


def test_check_uses_the_reference_while_the_stub_is_there(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lesson = Lesson("x", goals=["double a number"])
    assert lesson.check("double", stub, doubles_two, double) is double  # the reference, for now
    assert "not done yet (the reference answer passes" in capsys.readouterr().out
    assert lesson.check("double again", double, doubles_two, stub) is double  # yours
    assert capsys.readouterr().out == "double again: ✓ your answer passes every check\n"
    with pytest.raises(AssertionError, match="fn\\(2\\) should be 4, not 2"):
        lesson.check("wrong", wrong, doubles_two, double)
    assert "wrong: ✗ not yet: fn(2) should be 4, not 2" in capsys.readouterr().out
    with pytest.raises(AssertionError):  # a broken reference answer is a bug in the lesson
        lesson.check("broken", stub, doubles_two, wrong)
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
    asyncio.run(lesson.check_async("async", stub, check, double))
    asyncio.run(lesson.check_async("sync test", double, doubles_two, stub))
    out = capsys.readouterr().out
    assert "async: not done yet" in out and "sync test: ✓" in out


def test_the_model_answers_live_outside_the_notebooks(capsys: pytest.CaptureFixture[str]) -> None:
    lesson = Lesson("07-heartbeats-and-reconnecting")

    def resume_after(seen: list[int]) -> int:
        raise NotImplementedError  # your code here

    def check(fn) -> None:
        assert fn([1, 2, 4]) == 2

    assert lesson.check("resume_after", resume_after, check) is lesson_answers.reference(
        "07-heartbeats-and-reconnecting", "resume_after"
    )
    assert "resume_after: not done yet" in capsys.readouterr().out
    with pytest.raises(LookupError, match=r"no model answer for exercise 'nope'.*resume_after"):
        lesson.check("nope", resume_after, check)


def test_no_notebook_holds_a_model_answer() -> None:
    """No three lines of a model answer (two for a short one) stand together in its lesson."""
    import inspect
    import json

    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        shown = "\n".join(line for cell in cells for line in lines("".join(cell["source"])))
        for name in lesson_answers.names(path.stem):
            answer = lesson_answers.reference(path.stem, name)
            if inspect.isfunction(answer) and not inspect.signature(answer).parameters:
                # An ArkTS answer: the lesson shows ArkTS that shares lines with it.
                assert "\n".join(lines(answer())) not in shown, f"{path.name}: {name}"
                continue
            body = [line for line in lines(inspect.getsource(answer))[2:] if len(line) > 12]
            size = min(3, len(body))
            assert size >= 2, name
            for at in range(len(body) - size + 1):
                window = "\n".join(body[at : at + size])
                assert window not in shown, f"{path.name} shows the answer to {name}: {window}"
