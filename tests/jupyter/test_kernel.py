"""The client inside a real ipykernel, driven through jupyter_client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import ThreadServer, echo_handler, running_server
from tests.helpers.kernel import Cell, Kernel


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadServer]:
    with running_server(echo_handler) as s:
        yield s


def ok(cell: Cell) -> str:
    """The msg_id of a cell that ran without error."""
    assert cell.status == "ok", cell.text
    return cell.msg_id


def test_callback_output_goes_to_the_registering_cell(kernel: Kernel, server: ThreadServer):
    cell_a = ok(
        kernel.run(
            "from ohws_jupyter import createWebSocket\n"
            "ws = createWebSocket()\n"
            "ws.on('message', lambda value: print('got', value))\n"
            f"ws.connect({server.url!r}).result(10)\n"
        )
    )
    ok(kernel.run("x = 1"))
    cell_c = ok(kernel.run("ws.send('hello').result(10)"))
    parent, _ = kernel.stream_of("got hello")
    assert parent == cell_a
    assert parent != cell_c


def test_events_flow_while_a_cell_blocks(kernel: Kernel, server: ThreadServer):
    ok(
        kernel.run(
            "import threading\n"
            "from ohws_jupyter import createWebSocket\n"
            "blocking = createWebSocket()\n"
            "arrived = threading.Event()\n"
            "blocking.on('message', lambda v: arrived.set())\n"
            f"blocking.connect({server.url!r}).result(10)\n"
        )
    )
    # The cell's main thread blocks in Event.wait() from the send until the echo's
    # callback has run: the echo can only arrive through the package's own threads.
    cell = ok(
        kernel.run(
            "blocking.send('during the block')\n"
            "print('received during the block:', arrived.wait(10))\n"
        )
    )
    parent, _ = kernel.stream_of("received during the block: True")
    assert parent == cell


def test_top_level_await_in_a_cell(kernel: Kernel, server: ThreadServer):
    cell = ok(
        kernel.run(
            "aw = createWebSocket()\n"
            f"ok = await aw.connect({server.url!r})\n"
            "sent = await aw.send('x')\n"
            "closed = await aw.close()\n"
            "print('await results', ok, sent, closed)\n"
        )
    )
    parent, _ = kernel.stream_of("await results True True True")
    assert parent == cell


def test_pending_promise_displays_its_outcome(kernel: Kernel, server: ThreadServer):
    cell = kernel.run("ws.send('shown')")
    ok(cell)
    shown = [m for m in cell.outputs if m["msg_type"] == "execute_result"]
    assert [m["content"]["data"]["text/plain"] for m in shown] == ["<Promise send: fulfilled True>"]


def test_in_a_kernel_each_place_warns_once(kernel: Kernel) -> None:
    """Cells share one module: a place is the cell's file and line, not the line alone."""

    def stderr_of(code: str) -> str:
        cell = kernel.run(code)
        ok(cell)
        return cell.stderr

    stderr_of("from ohws_jupyter import createWebSocket\nwarned = createWebSocket()")
    cell = "warned.close({'code': 4000, 'reason': 'x'})"
    assert stderr_of(cell).count("PortabilityWarning: close code 4000") == 1
    assert "PortabilityWarning" not in stderr_of(cell)  # the same cell again: the same place
    other = "warned.close({'code': 4000, 'reason': 'x'})  # line 1 of another cell"
    assert stderr_of(other).count("PortabilityWarning: close code 4000") == 1
