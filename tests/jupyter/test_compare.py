"""``compare`` and ``%%ws compare`` in a real kernel, whose loop runs while a cell runs:
the two columns as HTML and as text, the cell's output in its cell, errors as rows
or as a one-line UsageError."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers.kernel import Cell, Kernel

HOSTILE = "<script>alert(1)</script>"


def ok(cell: Cell) -> Cell:
    assert cell.status == "ok", cell.text
    return cell


def result_of(cell: Cell) -> dict[str, Any]:
    """The data of the cell's execute_result."""
    (found,) = [m["content"]["data"] for m in cell.outputs if m["msg_type"] == "execute_result"]
    return found


@pytest.fixture(scope="module")
def loaded(kernel: Kernel) -> Kernel:
    ok(kernel.run("%load_ext ohws_jupyter"))
    return kernel


def test_a_cell_under_both_profiles_shows_two_columns(loaded: Kernel) -> None:
    cell = ok(
        loaded.run(
            "%%ws compare -o side\n"
            "ws = webSocket.createWebSocket()\n"
            "ws.on('message', lambda data: None)\n"
            "await ws.connect(peer)\n"
            "end = ws.once('dataEnd')\n"
            "await ws.send('/text 10000')\n"
            "await end\n"
            "print('ran under', webSocket.profile)\n"
        )
    )
    # The cell's own output reaches the cell, from each run.
    assert "ran under seed" in cell.stdout and "ran under device" in cell.stdout
    data = result_of(cell)
    page, text = data["text/html"], data["text/plain"]
    assert page.startswith('<div class="ohws-compare">') and "<table" in page
    differing = re.findall(r'<tr class="ohws-differs"[^>]*>(.*?)</tr>', page)
    assert any("ws event &#x27;message&#x27;" in row and "4,096 chars" in row for row in differing)
    assert text.splitlines()[0].startswith("seed and device differ in ")
    assert any(line.startswith("≠  ws event 'message'") for line in text.splitlines())
    # -o kept the result, and the cell's names stayed in the cell.
    check = ok(
        loaded.run(
            "print(type(side).__name__, 'ws' in dir(), sorted({d.what for d in side.differences}"
            " & {\"ws event 'message'\", 'ws: message <'}))"
        )
    )
    assert check.stdout.strip() == "Comparison False [\"ws event 'message'\", 'ws: message <']"


def test_server_text_is_escaped_in_the_html(loaded: Kernel) -> None:
    cell = ok(
        loaded.run(
            "%%ws compare\n"
            "ws = webSocket.createWebSocket()\n"
            "ws.on('message', lambda data: None)\n"
            "await ws.connect(peer)\n"
            "reply = ws.once('message')\n"
            f"await ws.send({HOSTILE!r})  # the lab peer echoes it\n"
            "await reply\n"
        )
    )
    page = result_of(cell)["text/html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page


def test_compare_in_a_cell_while_the_kernels_loop_runs(loaded: Kernel) -> None:
    cell = ok(
        loaded.run(
            "import asyncio\n"
            "from ohws_jupyter import compare\n"
            "assert asyncio.get_running_loop().is_running()\n"
            "async def closes(webSocket, peer):\n"
            "    ws = webSocket.createWebSocket()\n"
            "    ws.on('close', lambda result: None)\n"
            "    await ws.connect(peer)\n"
            "    await ws.send('/close')\n"
            "    await ws.once('close')\n"
            "result = compare(closes)\n"
            "print([str(d) for d in result.differences if d.what == \"ws event 'close'\"])\n"
            "result\n"
        )
    )
    assert "ws event 'close': seed CloseResult(code=1005, reason='') | device " in cell.stdout
    assert "ohws-differs" in result_of(cell)["text/html"]


def test_an_error_in_the_cell_is_a_row_and_a_mistake_is_one_line(loaded: Kernel) -> None:
    cell = ok(loaded.run("%%ws compare --peer none\nraise KeyError('no such key')\n"))
    text = result_of(cell)["text/plain"]
    assert "fn raised" in text and "KeyError: 'no such key'" in text
    assert cell.errors == []
    for line, body, message in [
        (
            "compare",
            "x = (\n",
            "UsageError: %%ws compare: line 1 of the cell: '(' was never closed",
        ),
        ("compare --timeout 0", "pass\n", "UsageError: --timeout must be more than 0 seconds"),
        (
            "compare --peer http://x",
            "pass\n",
            "UsageError: --peer takes echo, broadcast, lab, a ws:// URL or none, not 'http://x'",
        ),
    ]:
        bad = loaded.run(f"%%ws {line}\n{body}")
        assert bad.status == "error" and bad.reply["ename"] == "UsageError"
        shown = bad.text  # one line on stderr: IPython shows a UsageError without a traceback
        assert shown.startswith(message) and shown.count("\n") == 1, shown
        assert "Traceback" not in shown and "ohws_jupyter" not in shown
