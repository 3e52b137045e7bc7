"""What ``compare`` returns: the two runs side by side, and where they differ.

The two runs are lined up by what happened: the n-th step called
``ws event 'message'`` of the seed run faces the n-th step of that name of the
device run, whatever else came between, so a step that only one side has
shows up alone on its row instead of shifting every row after it. A row
differs when one side has no such step or the two values differ; the times
never count, they are there to read.

A :class:`Comparison` shows as two columns: a table in a notebook
(``_repr_html_``, every value escaped, never read as HTML) and aligned text
in a terminal (``str``/``repr``), the differing rows marked ``≠``.
"""

from __future__ import annotations

import dataclasses
import html
from collections import defaultdict, deque
from typing import Any

from .recorder import Run, Step

__all__ = ["MAX_SHOWN_ROWS", "Comparison", "Difference", "Row", "line_up"]

#: Rows a notebook or a terminal shows; every row stays in ``Comparison.rows``.
MAX_SHOWN_ROWS = 500
_WHAT_WIDTH = 34
_SIDE_WIDTH = 56
_ABSENT = "—"
_MARK = "≠"


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the comparison: the same step in each run, or in one of them.

    Attributes:
        what: The step's name (``ws.send()``, ``ws event 'close'``, ``ws: close``).
        seed: The seed run's step, or None if it had none.
        device: The device run's step, or None if it had none.
    """

    what: str
    seed: Step | None
    device: Step | None

    @property
    def differs(self) -> bool:
        """Whether one side lacks the step or the two values differ."""
        if self.seed is None or self.device is None:
            return True
        return self.seed.key != self.device.key


@dataclasses.dataclass(frozen=True)
class Difference:
    """One differing row: what happened, and its value in each run (None: it did not).

    Attributes:
        what: The event, call or change of state.
        seed: Its value in the seed run, or None.
        device: Its value in the device run, or None.
    """

    what: str
    seed: str | None
    device: str | None

    def __str__(self) -> str:
        seed = _ABSENT if self.seed is None else self.seed
        device = _ABSENT if self.device is None else self.device
        return f"{self.what}: seed {seed} | device {device}"


def line_up(seed: list[Step], device: list[Step]) -> list[Row]:
    """Pair the n-th step of each name in one run with the n-th of that name in the other."""
    waiting: dict[str, deque[int]] = defaultdict(deque)
    for j, step in enumerate(device):
        waiting[step.what].append(j)
    partner: list[int | None] = []
    for step in seed:
        queue = waiting[step.what]
        partner.append(queue.popleft() if queue else None)
    seed_of = {j: i for i, j in enumerate(partner) if j is not None}
    placed: list[tuple[tuple[int, int, int], Row]] = [
        ((i, 0, 0), Row(step.what, step, None if j is None else device[j]))
        for i, (step, j) in enumerate(zip(seed, partner, strict=True))
    ]
    anchor = -1
    for j, step in enumerate(device):
        if j in seed_of:
            anchor = seed_of[j]
        else:
            # A step only the device had goes after the row of the step before it.
            placed.append(((anchor, 1, j), Row(step.what, None, step)))
    placed.sort(key=lambda item: item[0])
    return [row for _, row in placed]


class Comparison:
    """The same code run under the ``seed`` and the ``device`` profiles.

    Attributes:
        seed: The seed run (a :class:`~ohws_jupyter.comparison.recorder.Run`).
        device: The device run.
        rows: Every row, in the order of the seed run with the device's extra steps
            placed after the step before them.
        differences: One :class:`Difference` per differing row.
    """

    def __init__(self, seed: Run, device: Run) -> None:
        self.seed = seed
        self.device = device
        self.rows = line_up(seed.steps, device.steps)
        self.differences = [
            Difference(
                row.what,
                row.seed.value if row.seed else None,
                row.device.value if row.device else None,
            )
            for row in self.rows
            if row.differs
        ]

    def summary(self) -> str:
        """One line: how many rows there are and how many differ."""
        count = len(self.differences)
        if not count:
            return f"seed and device: the same {len(self.rows)} steps"
        return f"seed and device differ in {count} of {len(self.rows)} rows ({_MARK})"

    # -- plain text ---------------------------------------------------------------------------
    def __str__(self) -> str:
        shown = self.rows[:MAX_SHOWN_ROWS]
        what_w = min(_WHAT_WIDTH, max([4, *(len(row.what) for row in shown)]))
        cells = [(_side(row.seed), _side(row.device)) for row in shown]
        side_w = min(_SIDE_WIDTH, max([6, *(len(c) for pair in cells for c in pair)]))
        lines = [
            self.summary(),
            f"   {'what':<{what_w}}  {'seed':<{side_w}}  device",
        ]
        for row, (seed, device) in zip(shown, cells, strict=True):
            mark = _MARK if row.differs else " "
            what = _fit(row.what, what_w)
            lines.append(
                f"{mark}  {what:<{what_w}}  {_fit(seed, side_w):<{side_w}}  "
                f"{_fit(device, side_w)}".rstrip()
            )
        lines.extend(self._more())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _more(self) -> list[str]:
        hidden = self.rows[MAX_SHOWN_ROWS:]
        if not hidden:
            return []
        differ = sum(row.differs for row in hidden)
        return [f"… {len(hidden)} more rows ({differ} differ): see .rows and .differences"]

    # -- a notebook ---------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        esc = html.escape
        cell = "padding:2px 8px;text-align:left;vertical-align:top;font-family:monospace"
        head = (
            f'<tr><th style="{cell}"></th><th style="{cell}">what</th>'
            f'<th style="{cell}">seed</th><th style="{cell}">device</th></tr>'
        )
        body = []
        for row in self.rows[:MAX_SHOWN_ROWS]:
            style = ' style="background:rgba(255,170,0,0.18)"' if row.differs else ""
            mark = _MARK if row.differs else ""
            body.append(
                f'<tr class="{"ohws-differs" if row.differs else "ohws-same"}"{style}>'
                f'<td style="{cell}">{mark}</td><td style="{cell}">{esc(row.what)}</td>'
                f'<td style="{cell}">{_side_html(row.seed)}</td>'
                f'<td style="{cell}">{_side_html(row.device)}</td></tr>'
            )
        more = "".join(f"<p>{esc(line)}</p>" for line in self._more())
        return (
            f'<div class="ohws-compare"><p>{esc(self.summary())}</p>'
            f'<table style="border-collapse:collapse">'
            f"<thead>{head}</thead><tbody>{''.join(body)}</tbody></table>{more}</div>"
        )


def _side(step: Step | None) -> str:
    return _ABSENT if step is None else f"{step.ms:7.1f} ms  {step.value}"


def _side_html(step: Step | None) -> str:
    if step is None:
        return _ABSENT
    return (
        f'<span style="opacity:0.6">{step.ms:.1f}&nbsp;ms</span> '
        f"{html.escape(step.value, quote=True)}"
    )


def _fit(text: str, width: int) -> str:
    """``text`` in ``width`` characters; a long one loses its middle, so a size or a
    piece count at its end stays in view."""
    if len(text) <= width:
        return text
    tail = min(18, width // 3)
    return text[: width - tail - 1] + "…" + text[-tail:]
