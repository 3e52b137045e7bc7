"""The notebooks run top to bottom on a real kernel; Binder's files build a working env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, without_portability_warnings

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.timeout(600)


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert "01-quickstart.ipynb" in names
    assert len(names) >= 5


_executed: dict[Path, Any] = {}


def executed(path: Path) -> Any:
    """The notebook at ``path`` after a run top to bottom on a real kernel (run once)."""
    if path not in _executed:
        nbformat = pytest.importorskip("nbformat")
        from nbclient import NotebookClient

        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=120,
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()  # raises CellExecutionError on the first failing cell
        _executed[path] = nb
    return _executed[path]


def _stdout(cell: Any) -> str:
    return "".join(
        out.get("text", "")
        for out in cell.outputs
        if out.output_type == "stream" and out.name == "stdout"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path):
    nb = executed(path)
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
        or (
            out.output_type == "stream"
            and out.name == "stderr"
            and without_portability_warnings(out.text).strip()
        )
    ]
    assert errors == []


# The lessons a newcomer opens first (the demo opens the quickstart).
MODEL_LESSONS = [ROOT / "notebooks" / "01-quickstart.ipynb", ROOT / "notebooks" / "03-panel.ipynb"]


@pytest.mark.parametrize("path", MODEL_LESSONS, ids=[p.stem for p in MODEL_LESSONS])
def test_a_cell_that_shows_a_portability_warning_says_why(path):
    # These lessons write the portable form; a cell that shows the warning on
    # purpose names it in its own source, so a reader knows the red text is the point.
    unexplained = [
        cell.source.splitlines()[0]
        for cell in executed(path).cells
        if cell.cell_type == "code"
        and any("PortabilityWarning:" in out.get("text", "") for out in cell.outputs)
        and "PortabilityWarning" not in cell.source
    ]
    assert unexplained == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_ends_without_a_stray_value(path):
    # A lesson's last cell cleans up; a bare `await server.stop()` there showed `True`.
    last = [cell for cell in executed(path).cells if cell.cell_type == "code"][-1]
    assert [out for out in last.outputs if out.output_type == "execute_result"] == []


def test_panel_notebook_prints_what_the_panel_shows():
    nb = executed(ROOT / "notebooks" / "03-panel.ipynb")
    cells = [c for c in nb.cells if c.cell_type == "code"]
    flood = next(c for c in cells if "range(2000)" in c.source)
    # 2000 flooded + 2 earlier messages; the window holds max_entries=1000 of them.
    assert _stdout(flood).startswith("2002 messages in; 1000 in the log window\n")
    close = next(c for c in cells if "close_connection" in c.source)
    last_line = _stdout(close).strip()
    assert " close 4000 class is over " in last_line and "closing" not in last_line


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


def test_demo_check_runs_the_quickstart():
    out = subprocess.run(
        [sys.executable, "-m", "ohws_jupyter", "demo", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok   01-quickstart.ipynb" in out.stdout
    assert "1 passed, 0 failed" in out.stdout
    # The kernel runs over IPC: ipykernel has no TCP warning to print, nor anything else.
    assert "without encryption" not in out.stderr
    assert out.stderr.strip() == "", out.stderr


def test_demo_check_reports_the_failing_cell_plainly(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    cells = {
        "01-quickstart.ipynb": ["print('fine')"],
        "02-magic.ipynb": ["%load_ext ohws_jupyter", "%ws wait --timeout 1"],
        "03-python.ipynb": ["x = 1", "# a comment first\n\n1 / 0"],
    }
    for name, sources in cells.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
        nbformat.write(nb, tmp_path / name)
    out = subprocess.run(
        [sys.executable, "-m", "ohws_jupyter", "demo", "--check", "--all",
         "--notebooks", str(tmp_path), "--timeout", "60"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ok   01-quickstart.ipynb (")
    assert lines[1:] == [
        "FAIL 02-magic.ipynb, cell 2 (%ws wait --timeout 1): "
        "UsageError: no connection yet; open one with %ws connect URL",
        "FAIL 03-python.ipynb, cell 2 (# a comment first): ZeroDivisionError: division by zero",
        "1 passed, 2 failed",
    ]
    assert "\x1b" not in out.stdout


def test_binder_files_build_a_working_environment(tmp_path):
    """Build a fresh venv from exactly binder/'s files, then run every notebook in it."""
    env_dir = tmp_path / "binder-env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", HOME=str(home))
    env.pop("PYTHONPATH", None)
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "-r", str(ROOT / "binder" / "requirements.txt")], check=True, env=env, timeout=900
    )
    subprocess.run(
        ["bash", str(ROOT / "binder" / "postBuild")], cwd=ROOT, check=True, env=env, timeout=600
    )
    config = json.loads((home / ".jupyter" / "jupyter_server_config.json").read_text())
    assert config["LabApp"]["default_url"].endswith("notebooks/01-quickstart.ipynb")
    out = subprocess.run(
        [str(bin_dir / "python"), "-m", "ohws_jupyter", "demo", "--check", "--all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(NOTEBOOKS)} passed, 0 failed" in out.stdout
