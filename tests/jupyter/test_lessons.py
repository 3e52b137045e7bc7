"""Every lesson notebook, answered as a student would, passes its own checks in a real kernel."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT

# -- every lesson, answered as a student would ------------------------------------------
STUB = "raise NotImplementedError  # your code here"
LESSONS = sorted(
    path
    for path in (ROOT / "notebooks").glob("*.ipynb")
    if STUB in path.read_text(encoding="utf-8")
)


def _answered(nb: Any) -> int:
    """Write each reference answer, under the exercise's own name, below its stub."""
    cells = nb.cells
    count = 0
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or STUB not in cell.source:
            continue
        reference = next(
            c for c in cells[i + 1 :] if "reference-answer" in c.metadata.get("tags", [])
        )
        answer = re.sub(
            r"\breference_(\w+)|\bReference(\w+)", lambda m: m[1] or m[2], reference.source
        )
        cell.source += "\n\n\n" + answer  # after the stub, so the answer is what counts
        count += 1
    return count


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_a_student_who_writes_the_reference_answers_passes_every_check(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    exercises = _answered(nb)
    assert exercises >= 2, f"{path.name}: a lesson has exercises"
    NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    out = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
        if o.output_type == "stream"
    )  # fmt: skip
    assert "not done yet" not in out
    assert out.count("✓ your answer passes every check") == exercises
    assert out.count(": passed\n") == exercises  # and the checkpoint says so
