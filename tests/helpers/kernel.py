"""A real ipykernel driven through ``jupyter_client``, for the Jupyter tier.

One class serves every kernel test: it keeps every iopub message it reads (a
callback may print into an earlier cell, or after its cell is done), and the
shell replies by cell, so cells can be started and finished in any order.
``jupyter_client`` is imported when a kernel starts, not when this module is.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable
from typing import Any

from .paths import ROOT

__all__ = ["Cell", "Kernel", "idle_of"]

Message = dict[str, Any]


def idle_of(msg_id: str) -> Callable[[Message], bool]:
    """A predicate: the kernel went idle after the cell ``msg_id``."""
    return lambda m: (
        m["msg_type"] == "status"
        and m["content"]["execution_state"] == "idle"
        and m["parent_header"].get("msg_id") == msg_id
    )


class Cell:
    """What one executed cell produced: its shell reply and its iopub messages.

    Attributes:
        msg_id: The request's id (``parent_header.msg_id`` of its outputs).
        reply: The shell reply's content (``status``, ``ename``, ``traceback`` ...).
        outputs: The cell's iopub messages up to its idle status, status ones left out.
        start: Where the cell's messages start in :attr:`Kernel.messages`.
    """

    def __init__(self, msg_id: str, reply: Message, outputs: list[Message], start: int) -> None:
        self.msg_id = msg_id
        self.reply = reply
        self.outputs = outputs
        self.start = start

    @property
    def status(self) -> str:
        return self.reply["status"]

    def _stream(self, name: str) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.outputs
            if m["msg_type"] == "stream" and m["content"]["name"] == name
        )

    @property
    def stdout(self) -> str:
        return self._stream("stdout")

    @property
    def stderr(self) -> str:
        return self._stream("stderr")

    @property
    def errors(self) -> list[str]:
        """The traceback text of each error output."""
        return [
            "\n".join(m["content"]["traceback"]) for m in self.outputs if m["msg_type"] == "error"
        ]

    @property
    def text(self) -> str:
        """Everything shown: streams, results and errors, as plain text."""
        parts = []
        for m in self.outputs:
            content = m["content"]
            if m["msg_type"] == "stream":
                parts.append(content["text"])
            elif m["msg_type"] in ("execute_result", "display_data"):
                parts.append(content["data"].get("text/plain", ""))
            elif m["msg_type"] == "error":
                parts.append("\n".join(content["traceback"]))
        return "\n".join(parts)


class Kernel:
    """A python3 kernel of this checkout, with no history database.

    Kernels of parallel runs would otherwise fight over one history file and
    print "Session/line number was not unique" into cell output. The package
    folder goes first on the kernel's ``PYTHONPATH``, so the kernel imports
    this checkout, whatever is installed.

    Attributes:
        messages: Every iopub message read so far, in order; each carries
            ``received_at``, the ``time.monotonic()`` of its arrival here.
        km, kc: The kernel manager and client (``km.interrupt_kernel()``).
    """

    def __init__(self, env: dict[str, str] | None = None) -> None:
        from jupyter_client.manager import start_new_kernel

        environ = dict(os.environ if env is None else env)
        paths = [str(ROOT), *filter(None, environ.get("PYTHONPATH", "").split(os.pathsep))]
        environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        self.km, self.kc = start_new_kernel(
            kernel_name="python3",
            extra_arguments=["--HistoryManager.enabled=False"],
            env=environ,
        )
        self.messages: list[Message] = []
        self._replies: dict[str, Message] = {}
        self._starts: dict[str, int] = {}

    # -- reading ----------------------------------------------------------------------------
    def read(self, timeout: float) -> Message | None:
        """The next iopub message (kept in :attr:`messages`), or None within ``timeout``."""
        try:
            msg = self.kc.get_iopub_msg(timeout=max(timeout, 0.01))
        except queue.Empty:
            return None
        msg["received_at"] = time.monotonic()
        self.messages.append(msg)
        return msg

    def iopub_until(self, predicate: Callable[[Message], bool], timeout: float = 20) -> Message:
        """The first message, kept or new, that satisfies ``predicate``."""
        for msg in self.messages:
            if predicate(msg):
                return msg
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.read(left)
            if msg is not None and predicate(msg):
                return msg
        kinds = [m["msg_type"] for m in self.messages[-50:]]
        raise AssertionError(f"no such iopub message within {timeout} s; the last ones: {kinds}")

    def stream_of(self, text: str, timeout: float = 20) -> tuple[str, str]:
        """Wait until one cell's stream output contains ``text``: (its msg_id, its text).

        A kernel may flush one print() in several stream messages, so the text
        is joined per parent cell before it is searched.
        """
        joined: dict[str, str] = {}

        def found(msg: Message) -> bool:
            if msg["msg_type"] != "stream":
                return False
            parent = msg["parent_header"].get("msg_id", "")
            joined[parent] = joined.get(parent, "") + msg["content"]["text"]
            return text in joined[parent]

        msg = self.iopub_until(found, timeout)
        parent = msg["parent_header"].get("msg_id", "")
        return parent, joined[parent]

    # -- running cells ------------------------------------------------------------------------
    def start(self, code: str) -> str:
        """Send ``code`` for execution without waiting; its msg_id (see :meth:`finish`)."""
        start = len(self.messages)
        msg_id = self.kc.execute(code)
        self._starts[msg_id] = start
        return msg_id

    def finish(self, msg_id: str, timeout: float = 60) -> Cell:
        """Wait until the cell ``msg_id`` is done: its outputs up to idle, and its reply."""
        start = self._starts.pop(msg_id, 0)
        deadline = time.monotonic() + timeout
        done = idle_of(msg_id)
        at = start
        while True:
            while at < len(self.messages) and not done(self.messages[at]):
                at += 1
            if at < len(self.messages):
                break
            if self.read(deadline - time.monotonic()) is None and time.monotonic() > deadline:
                raise AssertionError(f"the kernel did not finish cell {msg_id} within {timeout} s")
        outputs = [
            m
            for m in self.messages[start:at]
            if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] != "status"
        ]
        while msg_id not in self._replies:
            left = max(deadline - time.monotonic(), 1.0)
            reply = self.kc.get_shell_msg(timeout=left)
            self._replies[reply["parent_header"].get("msg_id", "")] = reply["content"]
        return Cell(msg_id, self._replies.pop(msg_id), outputs, start)

    def run(self, code: str, timeout: float = 60) -> Cell:
        """Execute ``code`` and wait until it is done."""
        return self.finish(self.start(code), timeout)

    def stop(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
