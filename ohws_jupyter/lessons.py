"""What the lesson notebooks use to teach: predictions, exercise checks, a checkpoint.

A lesson creates one :class:`Lesson`. A *prediction* is a value the student
writes before a cell shows what happens; :meth:`Lesson.reveal` compares it with
what was observed and never fails. An *exercise* is a function the student
writes in place of a stub that raises ``NotImplementedError``;
:meth:`Lesson.check` runs a test on it, or, while the stub is still there, on
the lesson's model answer (kept in :mod:`ohws_jupyter.lesson_answers`, out of
the student's notebook), so the notebook runs top to bottom either way and
shows no answer. :meth:`Lesson.checkpoint` prints what
a grader reads: every exercise and prediction, and the student's short answers.

Nothing here touches the network.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import lesson_answers

__all__ = ["Lesson", "same_meaning"]


@dataclass
class _Result:
    kind: str  # "exercise" or "prediction"
    name: str
    outcome: str  # exercise: passed / not done / wrong; prediction: right / wrong / none
    detail: str = ""


@dataclass
class Lesson:
    """One lesson's record of predictions and exercises.

    Attributes:
        name: The lesson's name, e.g. ``'00-on-the-wire'``; exercises find their
            model answers in :mod:`ohws_jupyter.lesson_answers` under it.
        goals: What the student can do after it.
        teacher: Show what was observed even where no prediction was written
            (a teacher running the notebook before class). Off by default, or
            on when the environment variable ``OHWS_TEACHER`` is ``1``.
    """

    name: str
    goals: list[str] = field(default_factory=list)
    teacher: bool = field(default_factory=lambda: os.environ.get("OHWS_TEACHER", "") == "1")
    _results: dict[tuple[str, str], _Result] = field(default_factory=dict, repr=False)

    def reveal(self, name: str, prediction: Any, observed: Any, why: str = "") -> None:
        """Print the prediction next to what was observed, and why it is so.

        A prediction is judged by its meaning, not its spelling: texts match
        whatever their case, spacing, quotes and final full stop (``"It is
        refused."`` is ``"it is refused"``), numbers match whatever their type
        (``"1009"``, ``1009`` and ``1009.0``), and lists and tuples match item
        by item. Where no prediction was written, neither the observed value nor
        the reason is shown (unless :attr:`teacher`): predict first, then look.
        """
        if prediction is None:
            outcome = "none"
            if self.teacher:
                line = f"observed {observed!r} (no prediction written)"
            else:
                line = "no prediction written: fill it in above and run this cell again to compare"
                why = ""
        elif same_meaning(prediction, observed):
            outcome, line = "right", f"✓ you predicted {prediction!r}: right"
        else:
            outcome, line = "wrong", f"✗ you predicted {prediction!r}; observed {observed!r}"
        self._results[("prediction", name)] = _Result("prediction", name, outcome)
        print(f"{name}: {line}")
        if why:
            print(f"  why: {why}")

    def check(
        self,
        name: str,
        yours: Callable[..., Any],
        test: Callable[[Callable[..., Any]], Any],
        reference: Callable[..., Any] | None = None,
    ) -> Callable[..., Any]:
        """Run ``test(yours)``; while ``yours`` is the stub, ``test(reference)`` instead.

        ``reference`` defaults to the model answer kept for this lesson's
        exercise ``name`` in :mod:`ohws_jupyter.lesson_answers`, outside the
        notebook. ``test`` raises ``AssertionError`` with a helpful message when
        an answer is wrong. A wrong answer of the student's is reported and
        raised again, so the cell shows it.

        Returns:
            The function the rest of the lesson uses: ``yours`` once it passes,
            the reference answer until then.
        """
        model = reference if reference is not None else lesson_answers.reference(self.name, name)
        outcome = self._run(yours, model, test)
        self._finish(name, outcome)
        return model if outcome[0] == "not done" else yours

    async def check_async(
        self,
        name: str,
        yours: Callable[..., Any],
        test: Callable[[Callable[..., Any]], Any],
        reference: Callable[..., Any] | None = None,
    ) -> Callable[..., Any]:
        """:meth:`check` for a ``test`` that is a coroutine function (it talks to a server)."""
        model = reference if reference is not None else lesson_answers.reference(self.name, name)
        outcome = await self._run_async(yours, model, test)
        self._finish(name, outcome)
        return model if outcome[0] == "not done" else yours

    def _run(self, yours: Any, reference: Any, test: Any) -> tuple[str, BaseException | None]:
        try:
            test(yours)
        except NotImplementedError:
            test(reference)  # the lesson's own answer must pass: a failure is a bug
            return "not done", None
        except AssertionError as exc:
            return "wrong", exc
        return "passed", None

    async def _run_async(
        self, yours: Any, reference: Any, test: Any
    ) -> tuple[str, BaseException | None]:
        try:
            await _maybe_await(test(yours))
        except NotImplementedError:
            await _maybe_await(test(reference))
            return "not done", None
        except AssertionError as exc:
            return "wrong", exc
        return "passed", None

    def _finish(self, name: str, result: tuple[str, BaseException | None]) -> None:
        outcome, exc = result
        self._results[("exercise", name)] = _Result("exercise", name, outcome, str(exc or ""))
        if outcome == "passed":
            print(f"{name}: ✓ your answer passes every check")
        elif outcome == "not done":
            print(
                f"{name}: not done yet (the reference answer passes, and stays hidden; "
                "replace the stub's `raise NotImplementedError` with your code and run "
                "the cells again)"
            )
        else:
            print(f"{name}: ✗ not yet: {exc}")
            assert exc is not None
            raise exc

    def checkpoint(self, answers: dict[str, str] | None = None) -> None:
        """Print the lesson's results and the student's answers, for a grader."""
        print(f"checkpoint of {self.name}")
        for goal in self.goals:
            print(f"  goal: {goal}")
        for result in self._results.values():
            print(f"  {result.kind:<10} {result.name}: {result.outcome}")
        for question, answer in (answers or {}).items():
            text = " ".join(str(answer).split()) or "(no answer yet)"
            print(f"  answer     {question}: {text}")
        done = sum(1 for r in self._results.values() if r.outcome in ("passed", "right"))
        print(f"  {done} of {len(self._results)} exercises and predictions done and right")


def same_meaning(prediction: Any, observed: Any) -> bool:
    """Whether a prediction says what was observed: see :meth:`Lesson.reveal`."""
    if isinstance(prediction, (list, tuple)) and isinstance(observed, (list, tuple)):
        return len(prediction) == len(observed) and all(
            same_meaning(p, o) for p, o in zip(prediction, observed, strict=True)
        )
    if isinstance(prediction, bool) or isinstance(observed, bool):
        return prediction is observed  # True is not 1 as a prediction
    number_p, number_o = _number(prediction), _number(observed)
    if number_p is not None and number_o is not None:
        return number_p == number_o
    if isinstance(prediction, str) and isinstance(observed, str):
        return _words(prediction) == _words(observed)
    return bool(prediction == observed)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value.strip().replace(",", "").replace("_", ""))
    return None


def _words(text: str) -> str:
    return " ".join(text.casefold().strip().strip("\"'`.!").split())


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
