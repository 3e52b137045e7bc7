"""Every lesson notebook, answered as a student would, passes its own checks in a real kernel."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ohws_jupyter import lesson_answers
from tests.helpers import ROOT

# -- every lesson, answered as a student would ------------------------------------------
STUB = "raise NotImplementedError  # your code here"
LESSONS = sorted(
    path
    for path in (ROOT / "notebooks").glob("*.ipynb")
    if STUB in path.read_text(encoding="utf-8")
)


#: What the model answers import, as a student's answer would.
IMPORTS = (
    "import base64, collections, concurrent.futures, hashlib, json, os, re, secrets, struct, "
    "threading, urllib.parse\nfrom collections.abc import Callable\nfrom typing import Any\n"
)


def _answered(nb: Any, lesson: str) -> int:
    """Write each model answer, as the student would, into the cell of its stub."""
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or STUB not in cell.source:
            continue
        name = next(n for n in lesson_answers.names(lesson) if _defines(cell.source, n))
        answer = textwrap.dedent(inspect.getsource(lesson_answers.reference(lesson, name)))
        answer = "\n".join(line for line in answer.splitlines() if not line.startswith("@"))
        cell.source += "\n\n\n" + IMPORTS + answer  # after the stub, so the answer is what counts
        count += 1
    return count


def _defines(source: str, name: str) -> bool:
    return re.search(rf"^(async def|def|class) {name}\b", source, re.MULTILINE) is not None


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_a_student_who_writes_the_model_answers_passes_every_check(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    exercises = _answered(nb, path.stem)
    assert exercises >= 1, f"{path.name}: a stub without its exercise"
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
