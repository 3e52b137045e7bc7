"""The parts of ``python -m ohws_jupyter lite`` that need no network and no browser."""

from __future__ import annotations

import json
import pathlib

import pytest

from ohws_jupyter.cli import lite
from tests.helpers import ROOT

NOTEBOOKS = ROOT / "notebooks"


def test_notebooks_get_their_marked_browser_cells_and_the_pyodide_kernel() -> None:
    original = json.loads((NOTEBOOKS / "01-quickstart.ipynb").read_text("utf-8"))
    nb, how = lite.browser_notebook(NOTEBOOKS / "01-quickstart.ipynb")
    assert nb is not None and how == "1 cell(s) in their browser version"
    assert nb["metadata"]["kernelspec"]["name"] == "python"
    changed = [
        (before, after)
        for before, after in zip(original["cells"], nb["cells"], strict=True)
        if before["source"] != after["source"]
    ]
    assert len(changed) == 1
    for before, after in changed:
        assert after["source"].startswith(lite.BROWSER_MARK)
        assert "".join(before["metadata"]["ohws_jupyter"]["browser"]) == after["source"]
        code = [line for line in after["source"].splitlines() if not line.startswith("#")]
        assert not any(".result(" in line or ".wait(10)" in line for line in code)


def test_a_notebook_that_cannot_run_in_a_page_is_left_out_with_its_reason(
    tmp_path: pathlib.Path,
) -> None:
    why = "it serves wss://, which a page cannot do"
    notebook = {"cells": [], "metadata": {"ohws_jupyter": {"browser": False, "why": why}}}
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps({**notebook, "nbformat": 4}), "utf-8")
    assert lite.browser_notebook(path) == (None, why)


@pytest.mark.parametrize(
    "name", ["02-magics.ipynb", "03-panel.ipynb", "06-record-replay-assert.ipynb"]
)
def test_the_magics_panel_and_record_notebooks_run_in_the_page_as_they_are(name: str) -> None:
    original = json.loads((NOTEBOOKS / name).read_text("utf-8"))
    nb, how = lite.browser_notebook(NOTEBOOKS / name)
    assert nb is not None and how == "as it is"
    assert [c["source"] for c in nb["cells"]] == [c["source"] for c in original["cells"]]


def test_a_browser_cell_must_say_why_it_differs(tmp_path: pathlib.Path) -> None:
    cell = {
        "cell_type": "code",
        "metadata": {"ohws_jupyter": {"browser": "x = 1  # no reason given"}},
        "source": "x = 1",
        "outputs": [],
        "execution_count": None,
    }
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4}), "utf-8")
    with pytest.raises(lite.LiteError, match="must start with a '# In the browser"):
        lite.browser_notebook(path)


def test_a_notebooks_folder_that_does_not_exist_is_an_error(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("jupyterlite_pyodide_kernel")
    with pytest.raises(lite.LiteError, match="is not a folder; give --notebooks"):
        lite.build(tmp_path / "site", cache=tmp_path / "cache", notebooks=tmp_path / "nope")
    assert not (tmp_path / "site").exists()
