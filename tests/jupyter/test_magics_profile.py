"""``%ws profile`` and the portability warnings of magics, in a real IPython shell."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from ohws_jupyter import PortabilityWarning, get_profile
from ohws_jupyter.jupyter import magics as router
from ohws_jupyter.jupyter.magics import WebSocketMagics
from tests.helpers import wait_until
from tests.helpers.profile_peers import TIMEOUT, Recording

pytestmark = pytest.mark.usefixtures("fresh_profile")  # seed, no warning shown yet


def portability(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in caught if issubclass(w.category, PortabilityWarning)]


@pytest.fixture
def ws_magic(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    shell = InteractiveShell.instance()
    assert "profile" in router.COMMANDS  # registered by the router itself
    magics = WebSocketMagics(shell)
    shell.register_magics(magics)
    yield lambda line: shell.run_line_magic("ws", line)
    for conn in list(magics.connections.values()):
        # Only what is still open: a device's close settles once its frame is
        # queued, and a second close of a CLOSING device socket is refused.
        if conn.ws.readyState in (0, 1):  # CONNECTING, OPEN
            conn.ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT)
        wait_until(lambda conn=conn: conn.ws.readyState == 3, TIMEOUT)


def test_the_profile_command(ws_magic: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ws_magic("profile")
    assert capsys.readouterr().out.startswith("profile: seed: ")
    ws_magic("profile device")
    assert capsys.readouterr().out.startswith("profile: device (was seed): as OpenHarmony's")
    assert get_profile() == "device"
    ws_magic("profile SEED")
    assert get_profile() == "seed"
    with pytest.raises(UsageError) as info:
        ws_magic("profile phone")
    assert str(info.value) == "%ws profile takes seed or device, not 'phone'"
    with pytest.raises(UsageError) as extra:
        ws_magic("profile seed device")
    assert str(extra.value).startswith("%ws profile: unrecognized arguments: device")
    ws_magic("help profile")
    assert "Show or switch the behaviour profile" in capsys.readouterr().out
    ws_magic("help")
    assert "profile  Show or switch the behaviour profile" in capsys.readouterr().out


def test_a_magic_warns_at_the_line_that_typed_it(ws_magic: Any, peer: Recording) -> None:
    ws_magic(f"connect {peer.url}")
    with pytest.warns(PortabilityWarning, match="close code 4000") as caught:
        ws_magic("close 4000 bye")
    assert {w.filename for w in caught} == {__file__}
    assert peer.wait("closes") == [(4000, "bye")]
    ws_magic("profile device")
    ws_magic(f"connect {peer.url}")
    with warnings.catch_warnings(record=True) as quiet:
        warnings.simplefilter("always")
        ws_magic("close 4000 bye")
    assert portability(quiet) == []
    assert peer.wait("closes", 2)[-1] == (1000, "bye")


def test_connect_profile_picks_one_connection_s_profile(ws_magic: Any, peer: Recording) -> None:
    ws_magic("profile device")  # the default: --profile seed overrides it for one connection
    seed = ws_magic(f"connect {peer.url} -n s --profile seed")
    device = ws_magic(f"connect {peer.url} -n d --profile DEVICE")
    default = ws_magic(f"connect {peer.url} -n x")
    assert (seed.profile, device.profile, default.profile) == ("seed", "device", "device")
    ws_magic("profile seed")  # changes neither open connection
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ws_magic("close -n d 4000 bye")
        assert peer.wait("closes", 1)[-1] == (1000, "bye")  # a device's close code
        ws_magic("close -n s 4000 bye")
        assert peer.wait("closes", 2)[-1] == (4000, "bye")
    assert [str(w.message)[:16] for w in portability(caught)] == ["close code 4000:"]
    with pytest.raises(UsageError) as info:
        ws_magic(f"connect {peer.url} -n bad --profile phone")
    assert str(info.value) == "%ws connect --profile takes seed or device, not 'phone'"
    assert len(peer.wait("headers", 3)) == 3  # the bad line opened nothing


WARNING_CELL = """\
import inspect, linecache, warnings
here = inspect.currentframe().f_code.co_filename
%ws connect $url
%ws close 4000 lesson over
print("after:", linecache.getline(here, 4).strip())
"""

RECORDED_CELL = """\
here = inspect.currentframe().f_code.co_filename
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    %ws connect $url
    %ws close
print([(w.filename == here, w.lineno) for w in caught if "device" in str(w.message)])
"""


def test_in_a_kernel_a_magics_warning_shows_the_cells_line_as_typed(kernel: Any) -> None:
    setup = kernel.run(
        "%load_ext ohws_jupyter\n"
        "from ohws_jupyter import webSocket\n"
        "server = webSocket.createWebSocketServer()\n"
        "await server.start({'serverPort': 0, 'mode': 'echo'})\n"
        "url = server.url"
    )
    assert setup.status == "ok", setup.errors
    cell = kernel.run(WARNING_CELL)
    assert cell.status == "ok", cell.errors
    lines = cell.stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if "PortabilityWarning: close code 4000" in line)
    assert lines[at].split(": PortabilityWarning")[0].endswith(":4")  # the cell's line 4
    assert lines[at + 1] == "  %ws close 4000 lesson over"
    assert "get_ipython()" not in cell.stderr
    # Once the command returned, the cell's source reads as IPython keeps it.
    assert "after: get_ipython().run_line_magic('ws', 'close 4000 lesson over')" in cell.stdout
    recorded = kernel.run(RECORDED_CELL)
    assert recorded.status == "ok", recorded.errors
    assert recorded.stdout.strip() == "[(True, 5)]"  # the cell's file, the %ws close line
    kernel.run("await server.stop()")


@pytest.mark.parametrize("name", ["seed", "device"])
def test_connect_to_a_refused_port_fails_under_either_profile(ws_magic: Any, name: str) -> None:
    # A device's connect resolves and reports the refusal in 'error': the magic says so.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UsageError) as info:
        ws_magic(f"connect --profile {name} ws://127.0.0.1:{port}/")
    assert str(info.value).startswith(f"%ws connect ws://127.0.0.1:{port}/ failed: [200]")
