"""What ``python -m ohws_jupyter lite`` puts in the site, built from a notebook that was run.

One small real build (``--notebooks`` a folder with one notebook saved with its
outputs, as JupyterLab autosaves it), then: the site's copy is clean, the
command says how to serve the site, and Debian's Chromium opening a page as
``file://`` shows the notice, while the same page served over HTTP does not.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from ohws_jupyter.cli import lite, lite_notice
from tests.helpers import ROOT
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS
from tests.helpers.notebooks import ran_notebook

pytestmark = [pytest.mark.lite, pytest.mark.timeout(600)]

TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, str]:
    """The site built from a folder with one notebook that was run; and the command's stderr."""
    pytest.importorskip("jupyterlite_core")
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (the build takes Pyodide from npm)")
    folder = tmp_path_factory.mktemp("lite-site")
    notebooks = folder / "notebooks"
    notebooks.mkdir()
    (notebooks / "ran.ipynb").write_text(json.dumps(ran_notebook()), "utf-8")
    site = folder / "site"
    done = subprocess.run(
        [sys.executable, "-m", "ohws_jupyter", "lite", "--output", str(site),
         "--notebooks", str(notebooks)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(site)
    return site, done.stderr


def test_the_sites_copy_of_a_notebook_that_was_run_has_no_outputs(
    built: tuple[pathlib.Path, str],
) -> None:
    site, _ = built
    source = ran_notebook()
    assert any(cell.get("outputs") for cell in source["cells"])  # the file on disk has them
    copy = json.loads((site / "files" / "ran.ipynb").read_text("utf-8"))
    code = [cell for cell in copy["cells"] if cell["cell_type"] == "code"]
    assert len(code) == 2
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)
    assert "widgets" not in copy["metadata"]


def test_the_command_says_how_to_serve_the_site(built: tuple[pathlib.Path, str]) -> None:
    site, stderr = built
    assert f"lite: {lite_notice.how_to_serve(site)}" in stderr.splitlines()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _notice(browser: object, url: str) -> tuple[str | None, bool]:
    """Open ``url``; the notice's text once the page is loaded (None if none), and if visible."""
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
        box = page.locator(f"#{lite_notice.NOTICE_ID}-box")
        if box.count() == 0:
            return None, False
        return box.inner_text(timeout=TIMEOUT_MS), box.is_visible()
    finally:
        page.close()


@pytest.mark.parametrize("page", ["lab/index.html", "index.html"])
def test_a_page_opened_as_a_file_says_how_to_serve_the_folder(
    built: tuple[pathlib.Path, str], browser: object, page: str
) -> None:
    site, _ = built
    text, visible = _notice(browser, (site / page).as_uri())
    assert text is not None and visible
    assert "must be served by a web server" in text
    assert f"--directory '{site}/'" in text
    assert "http://127.0.0.1:8000/lab/index.html" in text


def test_the_same_page_served_over_http_shows_no_notice(
    built: tuple[pathlib.Path, str], browser: object
) -> None:
    site, _ = built
    server = lite.serve(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/lab/index.html"
        assert _notice(browser, url) == (None, False)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
