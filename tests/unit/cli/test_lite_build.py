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


def test_a_notebook_that_cannot_run_in_a_page_is_left_out_with_its_reason() -> None:
    nb, why = lite.browser_notebook(NOTEBOOKS / "02-magics.ipynb")
    assert nb is None and "%ws magics" in why


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


def test_a_folder_that_is_not_a_built_site_is_never_replaced(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("jupyterlite_pyodide_kernel")
    (tmp_path / "thesis.txt").write_text("keep me")
    with pytest.raises(lite.LiteError, match="is not a site built by this command"):
        lite.build(tmp_path, cache=tmp_path / "cache")
    assert (tmp_path / "thesis.txt").read_text() == "keep me"
