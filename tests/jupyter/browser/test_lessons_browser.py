"""Every Mermaid diagram of the lessons renders in a real JupyterLab (headless Chromium).

JupyterLab draws a fenced ``mermaid`` block of a Markdown cell as a picture,
or shows its source with a warning when Mermaid cannot parse it (a ``;`` in
a sequence diagram's note is enough). The notebooks are opened, not run.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import ROOT
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

REPO = ROOT
NOTEBOOKS = REPO / "notebooks"
WITH_DIAGRAMS = [p for p in sorted(NOTEBOOKS.glob("*.ipynb")) if "```mermaid" in p.read_text()]


def _diagrams(path: pathlib.Path) -> int:
    cells = json.loads(path.read_text())["cells"]
    return sum(
        "".join(c["source"]).count("```mermaid") for c in cells if c["cell_type"] == "markdown"
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed")
    pytest.importorskip("playwright.sync_api")
    home = tmp_path_factory.mktemp("home")
    # Render every cell at once, not only those scrolled into view.
    settings = home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / ".jupyter")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ip", "127.0.0.1",
         "--port", str(port), f"--ServerApp.token={token}", f"--ServerApp.root_dir={NOTEBOOKS}",
         "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start") from None
                time.sleep(0.2)
        yield f"{base}/lab/tree/{{name}}?reset&token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def page(lab: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


@pytest.mark.parametrize("path", WITH_DIAGRAMS, ids=[p.stem for p in WITH_DIAGRAMS])
def test_every_diagram_renders(lab: str, page: Any, path: pathlib.Path) -> None:
    expected = _diagrams(path)
    page.goto(lab.format(name=path.name))
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    drawn = page.locator(".jp-RenderedMermaid:not(.jp-mod-warning) :is(svg, img)")
    broken = page.locator(".jp-RenderedMermaid.jp-mod-warning")
    deadline = time.monotonic() + 60
    while drawn.count() + broken.count() < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    failed = [broken.nth(i).inner_text()[:300] for i in range(broken.count())]
    assert failed == [], f"{path.name}: Mermaid could not draw {failed}"
    assert drawn.count() == expected
