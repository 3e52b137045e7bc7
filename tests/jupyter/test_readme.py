"""Every ```python block of the README runs as pasted, in order, in one real kernel.

Nothing is started outside: the README's examples bring their own embedded
server. A block fails on an error reply, on an error or stderr output, and when
a ``# prints: TEXT`` comment of it is not printed within a few seconds (a
callback may print after the cell is done).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import ROOT, without_portability_warnings

README = ROOT / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
PRINTS = re.compile(r"#\s*prints:\s*(.+?)\s*$", re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CELL_TIMEOUT = 60
PRINT_TIMEOUT = 10


def python_blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


class Kernel:
    """A real kernel; collects every iopub message, whichever cell it belongs to."""

    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        self.km, self.kc = start_new_kernel(
            kernel_name="python3", extra_arguments=["--HistoryManager.enabled=False"]
        )
        self.messages: list[dict[str, Any]] = []

    def _next(self, timeout: float) -> dict[str, Any] | None:
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except Exception:  # queue.Empty
            return None
        self.messages.append(msg)
        return msg

    def run(self, code: str) -> tuple[dict[str, Any], int]:
        """Run ``code``; its reply and where its messages start in ``self.messages``."""
        start = len(self.messages)
        msg_id = self.kc.execute(code)
        deadline = time.monotonic() + CELL_TIMEOUT
        while True:
            msg = self._next(max(0.1, deadline - time.monotonic()))
            assert msg is not None, f"no idle within {CELL_TIMEOUT} s for:\n{code}"
            if (
                msg["parent_header"].get("msg_id") == msg_id
                and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                break
        reply = self.kc.get_shell_msg(timeout=CELL_TIMEOUT)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=CELL_TIMEOUT)
        return reply["content"], start

    def stdout_since(self, start: int) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.messages[start:]
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )

    def problems_since(self, start: int) -> list[str]:
        """Error outputs and stderr text since ``start``."""
        found = []
        for m in self.messages[start:]:
            if m["msg_type"] == "error":
                found.append(ANSI.sub("", "\n".join(m["content"]["traceback"])))
            elif m["msg_type"] == "stream" and m["content"]["name"] == "stderr":
                text = without_portability_warnings(m["content"]["text"])
                if text.strip():
                    found.append(text)
        return found

    def wait_printed(self, start: int, texts: list[str]) -> list[str]:
        """Read on until every text is printed or the time is up; the missing ones."""
        deadline = time.monotonic() + PRINT_TIMEOUT
        while True:
            out = self.stdout_since(start)
            missing = [t for t in texts if t not in out]
            if not missing or time.monotonic() > deadline:
                return missing
            self._next(0.1)

    def stop(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    pytest.importorskip("jupyter_client")
    k = Kernel()
    try:
        yield k
    finally:
        k.stop()


def test_the_first_example_brings_its_own_server_and_waits_for_open() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 6
    first = blocks[0]
    assert "createWebSocketServer()" in first and "8765" not in first
    connect = first.index("await ws.connect(")
    assert connect < first.index("ws.send(") and connect < first.index("ws.close(")


def test_the_install_lines_name_what_each_extra_brings() -> None:
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((README.parent / "pyproject.toml").read_text(encoding="utf-8"))
    extras = pyproject["project"]["optional-dependencies"]
    text = README.read_text(encoding="utf-8")
    for extra in ("jupyter", "demo"):
        command = f"pip install 'ohws_jupyter[{extra}]'"
        line = next(x for x in text.splitlines() if x.startswith(command))
        for requirement in extras[extra]:
            name = re.split(r"[<>=!~\[ ;]", requirement)[0]
            if name != "ohws_jupyter":  # [demo] includes [jupyter]: "the above"
                assert name.lower() in line.lower(), (extra, name, line)


def test_every_python_block_runs_as_pasted_in_order(kernel: Kernel) -> None:
    for number, code in enumerate(python_blocks(), 1):
        reply, start = kernel.run(code)
        where = f"README python block {number}:\n{code}"
        assert reply["status"] == "ok", (
            f"{where}\n{reply.get('ename')}: {reply.get('evalue')}\n"
            + "\n".join(kernel.problems_since(start))
        )
        missing = kernel.wait_printed(start, PRINTS.findall(code))
        assert missing == [], f"{where}\nnot printed: {missing}\n{kernel.stdout_since(start)}"
        assert kernel.problems_since(start) == [], where
