"""The profile switch, the portability warnings and the ArkTS comments.

``%ws profile`` is tested with the magics, in ``tests/jupyter/test_magics_profile.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from typing import Any

import pytest

import ohws_jupyter
from ohws_jupyter import (
    BusinessError,
    PortabilityWarning,
    createWebSocket,
    get_profile,
    set_profile,
)
from ohws_jupyter.core import profile
from ohws_jupyter.record.export import copy_as_code
from tests.helpers import ROOT
from tests.helpers.profile_peers import TIMEOUT, Recording, using

pytestmark = pytest.mark.usefixtures("fresh_profile")  # seed, no warning shown yet


def portability(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in caught if issubclass(w.category, PortabilityWarning)]


# -- the switch ----------------------------------------------------------------------------------
def test_set_profile_returns_the_one_before() -> None:
    assert get_profile() == "seed"
    assert set_profile("device") == "seed"
    assert get_profile() == "device" and profile.is_device()
    assert set_profile(" Seed ") == "device"
    assert get_profile() == "seed"
    for bad in ("phone", "", None, 1):
        with pytest.raises(BusinessError) as info:
            set_profile(bad)  # type: ignore[arg-type]
        assert info.value.code == 401 and "'seed' or 'device'" in info.value.message
    assert get_profile() == "seed"


def test_package_exports() -> None:
    for name in ("set_profile", "get_profile", "PortabilityWarning"):
        assert name in ohws_jupyter.__all__ and hasattr(ohws_jupyter, name)
    assert issubclass(PortabilityWarning, UserWarning)
    for module in (profile, ohws_jupyter.core.device):
        assert module.__all__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


@pytest.mark.parametrize(
    ("value", "expected", "warned"),
    [("device", "device", False), ("DEVICE ", "device", False), ("tablet", "seed", True)],
)
def test_the_environment_sets_the_profile_at_start(value: str, expected: str, warned: bool) -> None:
    env = {**os.environ, "OHWS_PROFILE": value, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", "import ohws_jupyter; print(ohws_jupyter.get_profile())"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert run.stdout.strip() == expected
    assert ("is not 'seed' or 'device'" in run.stderr) is warned


def test_device_errors_carry_the_native_text_and_a_hint() -> None:
    err = BusinessError(2302003, "close it first", device=True)
    assert err.message == "Websocket connection already exist" and err.hint == "close it first"
    assert str(err) == "[2302003] Websocket connection already exist (close it first)"
    assert err.to_dict() == {"code": 2302003, "message": "Websocket connection already exist"}
    seed = BusinessError(2302003, "close it first")
    assert seed.message == "Websocket connection already exists: close it first"
    assert seed.hint is None and str(seed) == f"[2302003] {seed.message}"


# -- the warnings --------------------------------------------------------------------------------
def test_one_warning_per_kind_and_place() -> None:
    ws = createWebSocket()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            ws.close({"code": 4000})  # two kinds at one place: code and reason
        ws.close({"code": 4000})  # another place
    shown = portability(caught)
    assert [(w.lineno, str(w.message).split(":")[0]) for w in shown] == [
        (shown[0].lineno, "close code 4000"),
        (shown[0].lineno, "close with an empty reason"),
        (shown[2].lineno, "close code 4000"),
        (shown[2].lineno, "close with an empty reason"),
    ]
    assert shown[0].lineno != shown[2].lineno
    assert {w.filename for w in shown} == {__file__}


def test_no_warning_under_device_or_for_the_package_itself() -> None:
    ws = createWebSocket()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with using("device"):
            createWebSocket().close({"code": 4000})
        createWebSocket(profile="device").close({"code": 4000})
        # The same call made by one of the package's own modules (the panel, replay, ...).
        internal: dict[str, Any] = {"__name__": "ohws_jupyter.record.replay", "ws": ws}
        exec("ws.close({'code': 4000})", internal)
    assert portability(caught) == []


def test_warnings_follow_the_filters() -> None:
    ws = createWebSocket()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PortabilityWarning)
        with pytest.raises(PortabilityWarning, match="close code 4000"):
            ws.close({"code": 4000, "reason": "x"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore", PortabilityWarning)
        ws.close({"code": 4001, "reason": "x"})
    assert portability(caught) == []


# -- %ws export arkts ------------------------------------------------------------------------------
def _session(url: str, options: dict, close: dict) -> Any:
    ws = createWebSocket()
    ws.connect(url, options).result(TIMEOUT)
    ws.send("hello").result(TIMEOUT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PortabilityWarning)
        ws.close(close).result(TIMEOUT)
    return ws


def test_arkts_export_flags_what_a_device_runs_differently(peer: Recording) -> None:
    options = {"header": {"X-Trace": "1"}, "pingInterval": 40000, "pongTimeout": 30}
    code = copy_as_code(_session(peer.url, options, {"code": 4000}), "arkts")
    lines = code.splitlines()
    close_at = next(i for i, line in enumerate(lines) if "closeOptions" in line)
    assert lines[close_at - 2 : close_at] == [
        "  // On a device: a code outside 1000–1015 is sent as 1000.",
        "  // On a device: an empty reason is sent as 'CLOSE_NORMAL'.",
    ]
    assert '{ code: 4000, reason: "" }' in lines[close_at]
    header_at = lines.index("let header: Record<string, string> = {")
    assert lines[header_at - 1] == "// On a device: header names are sent in lowercase."
    ping_at = lines.index("  pingInterval: 40000,")
    assert lines[ping_at - 1] == "  // On a device: pingInterval becomes 30."
    assert code.count("{") == code.count("}")


def test_arkts_export_of_portable_code_has_no_device_comments(peer: Recording) -> None:
    options = {"header": {"x-trace": "1"}, "pingInterval": 10, "pongTimeout": 10}
    code = copy_as_code(_session(peer.url, options, {"code": 1000, "reason": "done"}), "arkts")
    assert "On a device" not in code
    assert '{ code: 1000, reason: "done" }' in code
    with using("device"):
        ws = _session(peer.url, {"supportOriginPort": True}, {"code": 4000})
    # Under device the close went out as 1000 CLOSE_NORMAL: that is what is exported.
    code = copy_as_code(ws, "arkts")
    assert '{ code: 1000, reason: "CLOSE_NORMAL" }' in code and "On a device" not in code
    assert "  supportOriginPort: true," in code.splitlines()
