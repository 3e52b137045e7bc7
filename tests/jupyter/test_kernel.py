"""The client inside a real ipykernel, driven through jupyter_client."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import echo_handler, running_server

jupyter_client = pytest.importorskip("jupyter_client")


class Kernel:
    def __init__(self) -> None:
        self.km, self.kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
        self.seen: list[dict[str, Any]] = []

    def execute(self, code: str, timeout: float = 30) -> str:
        """Run a cell and wait for its reply; returns its msg_id."""
        msg_id = self.kc.execute(code)
        reply = self.kc.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=timeout)
        assert reply["content"]["status"] == "ok", reply["content"]
        return msg_id

    def iopub_until(self, predicate, timeout: float = 20) -> dict[str, Any]:
        """Read iopub until a message satisfies ``predicate``; keep all of them."""
        for msg in self.seen:
            if predicate(msg):
                return msg
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(msg)
            if predicate(msg):
                return msg
        raise AssertionError(f"no such iopub message; saw {[m['msg_type'] for m in self.seen]}")

    def stream_of(self, text: str, timeout: float = 20) -> tuple[str, str]:
        """Wait until one cell's stream output contains ``text``: (msg_id, its text).

        A kernel may flush one print() in several stream messages, so the text
        is joined per parent cell before it is searched.
        """
        joined: dict[str, str] = {}

        def found(msg: dict[str, Any]) -> bool:
            if msg["msg_type"] != "stream":
                return False
            parent = msg["parent_header"].get("msg_id", "")
            joined[parent] = joined.get(parent, "") + msg["content"]["text"]
            return text in joined[parent]

        msg = self.iopub_until(found, timeout)
        parent = msg["parent_header"].get("msg_id", "")
        return parent, joined[parent]

    def stop(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def idle_of(msg_id: str):
    return lambda m: (
        m["msg_type"] == "status"
        and m["content"]["execution_state"] == "idle"
        and m["parent_header"].get("msg_id") == msg_id
    )


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    k = Kernel()
    yield k
    k.stop()


@pytest.fixture(scope="module")
def server():
    with running_server(echo_handler) as s:
        yield s


def test_callback_output_goes_to_the_registering_cell(kernel, server):
    cell_a = kernel.execute(
        "from ohws_jupyter import createWebSocket\n"
        "ws = createWebSocket()\n"
        "ws.on('message', lambda value: print('got', value))\n"
        f"ws.connect({server.url!r}).result(10)\n"
    )
    kernel.execute("x = 1")
    cell_c = kernel.execute("ws.send('hello').result(10)")
    parent, _ = kernel.stream_of("got hello")
    assert parent == cell_a
    assert parent != cell_c


def test_events_flow_while_a_cell_blocks(kernel, server):
    kernel.execute(
        "import time\n"
        "from ohws_jupyter import createWebSocket\n"
        "blocking = createWebSocket()\n"
        "stamps = []\n"
        "blocking.on('message', lambda v: stamps.append(time.monotonic()))\n"
        f"blocking.connect({server.url!r}).result(10)\n"
    )
    # The send and the echo happen while the cell sleeps on the main thread.
    cell = kernel.execute(
        "start = time.monotonic()\n"
        "blocking.send('during sleep')\n"
        "time.sleep(3)\n"
        "end = time.monotonic()\n"
        "print('received during the sleep:', bool(stamps) and stamps[0] < end)\n"
    )
    parent, _ = kernel.stream_of("received during the sleep: True")
    assert parent == cell


def test_top_level_await_in_a_cell(kernel, server):
    cell = kernel.execute(
        "aw = createWebSocket()\n"
        f"ok = await aw.connect({server.url!r})\n"
        "sent = await aw.send('x')\n"
        "closed = await aw.close()\n"
        "print('await results', ok, sent, closed)\n"
    )
    parent, _ = kernel.stream_of("await results True True True")
    assert parent == cell


def test_pending_promise_displays_its_outcome(kernel, server):
    cell = kernel.execute("ws.send('shown')")
    msg = kernel.iopub_until(
        lambda m: m["msg_type"] == "execute_result" and m["parent_header"].get("msg_id") == cell
    )
    assert msg["content"]["data"]["text/plain"] == "<Promise send: fulfilled True>"
