"""The parts of ``python -m ohws_jupyter lite`` that need no network and no browser."""

from __future__ import annotations

import json
import pathlib

import pytest

from ohws_jupyter.cli import lite, lite_notice
from tests.helpers import ROOT
from tests.helpers.notebooks import ran_notebook

NOTEBOOKS = ROOT / "notebooks"


def test_notebooks_get_their_marked_browser_cells_and_the_pyodide_kernel() -> None:
    original = json.loads((NOTEBOOKS / "01-quickstart.ipynb").read_text("utf-8"))
    marked = sum("browser" in c["metadata"].get("ohws_jupyter", {}) for c in original["cells"])
    nb, how = lite.browser_notebook(NOTEBOOKS / "01-quickstart.ipynb")
    assert marked >= 1 and nb is not None and how == f"{marked} cell(s) in their browser version"
    assert nb["metadata"]["kernelspec"]["name"] == "python"
    changed = [
        (before, after)
        for before, after in zip(original["cells"], nb["cells"], strict=True)
        if before["source"] != after["source"]
    ]
    assert len(changed) == marked
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


def test_the_site_gets_every_notebook_clean_whatever_the_file_holds(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "ran.ipynb"
    path.write_text(json.dumps(ran_notebook()), "utf-8")
    nb, _ = lite.browser_notebook(path)
    assert nb is not None
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert [(c["outputs"], c["execution_count"]) for c in code] == [([], None), ([], None)]
    assert [c["source"] for c in nb["cells"]] == [
        "print('hi')",
        f"{lite.BROWSER_MARK}: why\nx = 2",
        "# Title",
    ]
    assert "widgets" not in nb["metadata"]
    assert "outputs" not in nb["cells"][2]


def _fake_site(root: pathlib.Path) -> None:
    (root / "lab").mkdir(parents=True)
    (root / "lab" / "index.html").write_text(
        '<!DOCTYPE html>\n<html>\n<head>\n<script id="jupyter-config-data" '
        'data-jupyter-lite-root="..">{}</script>\n</head>\n<body></body>\n</html>\n'
    )
    (root / "index.html").write_text(
        "<!-- <head> in a comment is fine -->\n<html><HEAD lang='en'></HEAD></html>"
    )
    (root / "api").mkdir()
    (root / "api" / "index.html").write_text("no head here")


def test_every_page_of_the_site_says_how_to_serve_it_when_opened_as_a_file(
    tmp_path: pathlib.Path,
) -> None:
    _fake_site(tmp_path)
    changed = lite_notice.add_file_notice(tmp_path)
    assert changed == [tmp_path / "index.html", tmp_path / "lab" / "index.html"]
    page = (tmp_path / "lab" / "index.html").read_text()
    # First in <head>: before anything of JupyterLite's that could fail from a file.
    assert page.index(f'<script id="{lite_notice.NOTICE_ID}">') < page.index("jupyter-config-data")
    assert 'window.location.protocol !== "file:"' in page
    assert "python3 -m http.server 8000 --bind 127.0.0.1 --directory" in page
    assert "innerHTML" not in page  # the folder's path is text, never markup
    assert (tmp_path / "api" / "index.html").read_text() == "no head here"
    root = (tmp_path / "index.html").read_text()
    assert root.index("HEAD lang='en'>") < root.index(lite_notice.NOTICE_ID)
    # A second pass adds nothing.
    assert lite_notice.add_file_notice(tmp_path) == []
    assert page == (tmp_path / "lab" / "index.html").read_text()


def test_how_to_serve_names_the_command_and_the_folder(tmp_path: pathlib.Path) -> None:
    text = lite_notice.how_to_serve(tmp_path / "site")
    assert "python -m ohws_jupyter lite --serve" in text
    assert f"--directory {tmp_path / 'site'} " in text
    assert "http://127.0.0.1:8000/lab/index.html" in text
