"""Every ```python block of the README, and of the documentation pages its reference
moved to, runs as pasted, in order, in one real kernel.

Nothing is started outside: the README's examples bring their own embedded
server. A block fails on an error reply, on an error or stderr output, and when
a ``# prints: TEXT`` comment of it is not printed within a few seconds (a
callback may print after the cell is done).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, USER_DOCS, without_portability_warnings
from tests.helpers.kernel import Kernel

README = ROOT / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
PRINTS = re.compile(r"#\s*prints:\s*(.+?)\s*$", re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CELL_TIMEOUT = 60
PRINT_TIMEOUT = 10


def python_blocks(pages: list[Path] | None = None) -> list[str]:
    """The ```python blocks of ``pages`` (default: the README and the checked docs pages)."""
    return [
        block
        for page in (USER_DOCS if pages is None else pages)
        for block in BLOCK.findall(page.read_text(encoding="utf-8"))
    ]


def stdout_since(kernel: Kernel, start: int) -> str:
    return "".join(
        m["content"]["text"]
        for m in kernel.messages[start:]
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
    )


def stderr_since(kernel: Kernel, start: int) -> str:
    return "".join(
        m["content"]["text"]
        for m in kernel.messages[start:]
        if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"
    )


def problems_since(kernel: Kernel, start: int) -> list[str]:
    """Error outputs and stderr text since ``start``, whichever cell they belong to."""
    found = []
    for m in kernel.messages[start:]:
        if m["msg_type"] == "error":
            found.append(ANSI.sub("", "\n".join(m["content"]["traceback"])))
        elif m["msg_type"] == "stream" and m["content"]["name"] == "stderr":
            text = without_portability_warnings(m["content"]["text"])
            if text.strip():
                found.append(text)
    return found


def wait_printed(kernel: Kernel, start: int, texts: list[str]) -> list[str]:
    """Read on until every text is printed or the time is up; the missing ones."""
    deadline = time.monotonic() + PRINT_TIMEOUT
    while True:
        out = stdout_since(kernel, start)
        missing = [t for t in texts if t not in out]
        if not missing or time.monotonic() > deadline:
            return missing
        kernel.read(0.1)


def test_the_first_example_brings_its_own_server_and_waits_for_open() -> None:
    assert len(python_blocks()) >= 6
    first = python_blocks([README])[0]
    assert "createWebSocketServer()" in first and "8765" not in first
    connect = first.index("await ws.connect(")
    assert connect < first.index("ws.send(") and connect < first.index("ws.close(")


def test_the_install_lines_name_what_each_extra_brings() -> None:
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((README.parent / "pyproject.toml").read_text(encoding="utf-8"))
    extras = pyproject["project"]["optional-dependencies"]
    text = README.read_text(encoding="utf-8")
    for extra in ("jupyter", "demo", "lite", "docs"):
        command = f"pip install '.[{extra}]'"
        line = next(x for x in text.splitlines() if x.startswith(command))
        for requirement in extras[extra]:
            name = re.split(r"[<>=!~\[ ;]", requirement)[0]
            if name != "ohws_jupyter":  # [demo] includes [jupyter]: "the above"
                assert name.lower() in line.lower(), (extra, name, line)


def test_every_python_block_runs_as_pasted_in_order(kernel: Kernel) -> None:
    for number, code in enumerate(python_blocks(), 1):
        cell = kernel.run(code, CELL_TIMEOUT)
        reply, start = cell.reply, cell.start
        where = f"python block {number} of the README and docs pages:\n{code}"
        assert reply["status"] == "ok", (
            f"{where}\n{reply.get('ename')}: {reply.get('evalue')}\n"
            + "\n".join(problems_since(kernel, start))
        )
        missing = wait_printed(kernel, start, PRINTS.findall(code))
        assert missing == [], f"{where}\nnot printed: {missing}\n{stdout_since(kernel, start)}"
        assert problems_since(kernel, start) == [], where
        # The README writes the portable form, or says why it shows the warning.
        if "PortabilityWarning" not in code:
            assert "PortabilityWarning:" not in stderr_since(kernel, start), where


SCRIPT_RUNS = 10


def first_example_as_script() -> str:
    """The README's first example as its text says a plain script writes it.

    Each top-level ``await x`` becomes ``x.result(10)``.
    """
    lines = []
    for line in python_blocks()[0].splitlines():
        code, hash_, comment = line.partition("  #")
        if code.startswith("await "):
            code = code.removeprefix("await ").rstrip() + ".result(10)"
            line = code + (hash_ + comment if hash_ else "")
        lines.append(line)
    script = "\n".join(lines) + "\n"
    assert "await " not in script
    return script


def test_the_first_example_as_a_plain_script_prints_every_promised_line(tmp_path) -> None:
    """The script exits right after close(): its 'close' callback still runs, every time."""
    script = first_example_as_script()
    promised = PRINTS.findall(python_blocks()[0])
    assert any(text.startswith("closed ") for text in promised)
    path = tmp_path / "first_example.py"
    path.write_text(script, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for run in range(SCRIPT_RUNS):
        done = subprocess.run(
            [sys.executable, str(path)],
            capture_output=True,
            text=True,
            timeout=CELL_TIMEOUT,
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        missing = [text for text in promised if text not in done.stdout]
        assert not missing, f"run {run + 1}: {missing} not printed; stdout:\n{done.stdout}"
