"""What the lesson notebooks use to teach: predictions, exercise checks, a checkpoint.

A lesson creates one :class:`Lesson`. A *prediction* is a value the student
writes before a cell shows what happens; :meth:`Lesson.reveal` compares it with
what was observed and never fails. An *exercise* is a function the student
writes in place of a stub that raises ``NotImplementedError``;
:meth:`Lesson.check` runs a test on it, or, while the stub is still there, on
the lesson's reference answer (the collapsed cell after the exercise), so the
notebook runs top to bottom either way. :meth:`Lesson.checkpoint` prints what
a grader reads: every exercise and prediction, and the student's short answers.

Nothing here touches the network.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Lesson"]


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
        name: The lesson's name, e.g. ``'00-on-the-wire'``.
        goals: What the student can do after it.
    """

    name: str
    goals: list[str] = field(default_factory=list)
    _results: dict[tuple[str, str], _Result] = field(default_factory=dict, repr=False)

    def reveal(self, name: str, prediction: Any, observed: Any, why: str = "") -> None:
        """Print the prediction next to what was observed, and why it is so."""
        if prediction is None:
            outcome, line = "none", f"observed {observed!r} (no prediction written)"
        elif prediction == observed:
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
        reference: Callable[..., Any],
        test: Callable[[Callable[..., Any]], Any],
    ) -> Callable[..., Any]:
        """Run ``test(yours)``; while ``yours`` is the stub, ``test(reference)`` instead.

        ``test`` raises ``AssertionError`` with a helpful message when an answer
        is wrong. A wrong answer of the student's is reported and raised again,
        so the cell shows it.

        Returns:
            The function the rest of the lesson uses: ``yours`` once it passes,
            the reference answer until then.
        """
        outcome = self._run(yours, reference, test)
        self._finish(name, outcome)
        return reference if outcome[0] == "not done" else yours

    async def check_async(
        self,
        name: str,
        yours: Callable[..., Any],
        reference: Callable[..., Any],
        test: Callable[[Callable[..., Any]], Any],
    ) -> Callable[..., Any]:
        """:meth:`check` for a ``test`` that is a coroutine function (it talks to a server)."""
        outcome = await self._run_async(yours, reference, test)
        self._finish(name, outcome)
        return reference if outcome[0] == "not done" else yours

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
                f"{name}: not done yet (the reference answer passes; replace the stub's "
                "`raise NotImplementedError` with your code and run the cells again)"
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


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
