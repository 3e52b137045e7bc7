"""The panel in a real JupyterLab, driven by headless Chromium.

The test starts JupyterLab on 127.0.0.1 with a token and a fresh HOME, writes a
notebook that starts the embedded server (lab mode) and a panel, then clicks
through it: Connect, Send, the echo, a server-initiated close, and markup
messages that must show as text without running anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.browser

REPO = pathlib.Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "artifacts" / "panel.png"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "<script>alert(2)</script>"

CELLS = [
    """\
from ohws_jupyter import createWebSocket, createWebSocketServer
from ohws_jupyter.panel import WebSocketPanel

server = createWebSocketServer()
server.start({"serverPort": 0, "mode": "lab"}).result(10)
ws = createWebSocket()
panel = WebSocketPanel(ws)
panel.url = server.url
panel""",
    "panel  # the same panel, displayed a second time",
]


def _notebook(cells: list[str]) -> dict[str, Any]:
    return {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": c,
                "outputs": [],
                "execution_count": None,
            }
            for c in cells
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # The server and its kernels share one process group: end them together.
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed")
    pytest.importorskip("playwright.sync_api")
    root = tmp_path_factory.mktemp("lab")
    home = root / "home"
    notebooks = root / "notebooks"
    home.mkdir()
    notebooks.mkdir()
    (notebooks / "panel.ipynb").write_text(json.dumps(_notebook(CELLS)))
    token = secrets.token_hex(16)
    port = _free_port()
    env = {
        **os.environ,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / ".ipython"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    log = (root / "lab.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--allow-root",
            "--no-browser",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={notebooks}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "JupyterLab did not start:\n" + (root / "lab.log").read_text()
                    ) from None
                time.sleep(0.2)
        yield {"base": base, "token": token, "home": home}
    finally:
        _stop(proc)
        log.close()


@pytest.fixture
def page(lab: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.dialogs = []  # type: ignore[attr-defined]
            page.console_errors = []  # type: ignore[attr-defined]
            page.on(
                "console",
                lambda m: m.type == "error" and page.console_errors.append(m.text),  # type: ignore[attr-defined]
            )

            def on_dialog(dialog: Any) -> None:
                page.dialogs.append(dialog.message)  # type: ignore[attr-defined]
                dialog.dismiss()

            page.on("dialog", on_dialog)
            yield page
        finally:
            browser.close()


def _run_cells(page: Any, count: int) -> None:
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=60_000)
    # The indicator reads idle before a kernel is attached; the status bar waits for one.
    page.get_by_text(re.compile(r"\| Idle$")).first.wait_for(timeout=60_000)
    page.locator(".jp-Cell .jp-InputArea-editor").first.click()
    page.keyboard.press("Escape")
    for _ in range(count):
        page.keyboard.press("Shift+Enter")


def test_panel_connect_send_echo_close_and_xss(lab: dict[str, Any], page: Any) -> None:
    try:
        _scenario(lab, page)
    except BaseException:
        # Keep what the page looked like, and what its console said, for the report.
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT.with_name("panel-failure.png")))
        print("browser console errors:", *page.console_errors, sep="\n")
        raise


def _scenario(lab: dict[str, Any], page: Any) -> None:
    from playwright.sync_api import expect

    page.set_default_timeout(30_000)
    page.goto(f"{lab['base']}/lab/tree/panel.ipynb?reset&token={lab['token']}")
    _run_cells(page, len(CELLS))

    panels = page.locator(".ohws-panel")
    expect(panels).to_have_count(2, timeout=60_000)
    first, second = panels.nth(0), panels.nth(1)
    expect(first.locator(".ohws-badge")).to_have_text("CLOSED")
    expect(first.locator(".ohws-url")).to_have_value(re.compile(r"^ws://127\.0\.0\.1:\d+$"))

    first.locator(".ohws-connect").click()
    expect(first.locator(".ohws-badge")).to_have_text("OPEN")
    expect(second.locator(".ohws-badge")).to_have_text("OPEN")

    first.locator(".ohws-input").fill("hello panel")
    first.locator(".ohws-send").click()
    received = ".ohws-row.ohws-dir-received .ohws-text"
    expect(first.locator(received)).to_have_text(["hello panel"])
    expect(second.locator(received)).to_have_text(["hello panel"])  # both views follow
    expect(first.locator(".ohws-count-in")).to_contain_text("in 1 msgs")

    for evil in (XSS_IMG, XSS_SCRIPT):
        first.locator(".ohws-input").fill(evil)
        first.locator(".ohws-send").click()
    expect(first.locator(received)).to_have_text(["hello panel", XSS_IMG, XSS_SCRIPT])

    first.locator(".ohws-input").fill("/close 4001 kicked")
    first.locator(".ohws-send").click()
    close_row = first.locator(".ohws-row.ohws-kind-close")
    expect(close_row.locator(".ohws-text")).to_have_text("4001 kicked")
    expect(close_row.locator(".ohws-explain")).to_contain_text("Application code")
    expect(first.locator(".ohws-badge")).to_have_text("CLOSED")

    # The markup arrived as text: nothing ran, nothing was injected.
    assert page.dialogs == []
    injected = page.evaluate(
        """() => ({
            img: document.querySelectorAll('.ohws-panel img, img[src="x"]').length,
            script: document.querySelectorAll('.ohws-panel script').length,
        })"""
    )
    assert injected == {"img": 0, "script": 0}

    first.locator(".ohws-filter").select_option("events")
    expect(first.locator(".ohws-row.ohws-kind-message")).to_have_count(0)
    expect(second.locator(".ohws-row.ohws-kind-message")).to_have_count(0)  # shared trait
    first.locator(".ohws-filter").select_option("all")
    first.locator(".ohws-search").fill("kicked")
    expect(first.locator(".ohws-row")).to_have_count(2)  # the sent command and the close
    first.locator(".ohws-search").fill("")

    SCREENSHOT.parent.mkdir(exist_ok=True)
    first.scroll_into_view_if_needed()
    first.screenshot(path=str(SCREENSHOT))

    # After a reload the views come back from the kernel and catch up on the log.
    page.keyboard.press("Control+s")
    expect(page.locator(".jp-mod-dirty")).to_have_count(0)
    page.reload()
    panels = page.locator(".ohws-panel")
    expect(panels).to_have_count(2, timeout=60_000)
    for view in (panels.nth(0), panels.nth(1)):
        expect(view.locator(".ohws-badge")).to_have_text("CLOSED")
        expect(view.locator(received)).to_have_text(["hello panel", XSS_IMG, XSS_SCRIPT])
        expect(view.locator(".ohws-recent option")).to_have_count(5)  # placeholder + 4 sent
    assert page.dialogs == []
