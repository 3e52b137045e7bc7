"""``core.context``: an object's settings, resolved once, and the rule that nothing
below the object constructors reads the process-wide defaults."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator

import pytest

from ohws_jupyter import BusinessError, set_allowed_hosts, set_network_permission, set_profile
from ohws_jupyter.core.context import Context, resolve_context
from tests.helpers import ROOT

PACKAGE = ROOT / "ohws_jupyter"


@pytest.fixture
def defaults() -> Iterator[None]:
    before = set_profile("seed")
    yield
    set_profile(before)
    set_network_permission(True)
    set_allowed_hosts(None)


def test_resolve_takes_the_defaults_of_the_moment(defaults: None) -> None:
    runtime, factory = object(), object
    seed = resolve_context(runtime=runtime, session_factory=factory)
    assert seed == Context("seed", False, True, None, runtime, factory)
    set_profile("device")
    set_network_permission(False)
    set_allowed_hosts(["Example.org"])
    device = resolve_context()
    assert (device.profile, device.is_device, device.device_texts) == ("device", True, True)
    assert (device.network_permission, device.allowed_hosts) == (False, frozenset({"example.org"}))
    assert not seed.is_device and seed.network_permission  # made before: unchanged
    assert resolve_context(" Seed ").profile == "seed"


def test_a_context_never_changes() -> None:
    ctx = Context()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.profile = "device"  # type: ignore[misc]
    device = ctx.replace(profile="device", device_texts=True)
    assert (ctx.profile, device.profile, device.is_device) == ("seed", "device", True)


@pytest.mark.parametrize("bad", ["phone", "", 0, ["device"]])
def test_a_bad_profile_is_a_401_that_names_the_argument(defaults: None, bad: object) -> None:
    with pytest.raises(BusinessError) as info:
        resolve_context(bad, what="profile")
    assert info.value.code == 401
    assert info.value.message == (
        "Parameter error: profile must be 'seed' or 'device' (or left out for the default, "
        f"'seed'), not {bad!r}"
    )


def test_errors_are_worded_by_the_context() -> None:
    device = Context(profile="device", device_texts=True)
    made = device.error(2302006, "see listAllConnections()")
    assert (made.message, made.hint) == (
        "websocket connection does not exist",
        "see listAllConnections()",
    )
    seed_made = BusinessError(2302006, "see listAllConnections()", device=True)
    assert Context().localize(seed_made) is seed_made
    assert seed_made.message == "Websocket connection does not exist: see listAllConnections()"
    other = ValueError("not ours")
    assert device.localize(other) is other


# -- the rule ------------------------------------------------------------------------------------
# Where the process-wide defaults may be read: the switches themselves, the one
# function that resolves a context, the object constructors, and the magics and
# command line (which show and set the default).
DEFAULT_READERS = {
    "get_profile": {"core/profile.py", "core/context.py", "jupyter/magics/profile.py"},
    "is_device": {"core/profile.py"},
    "network_defaults": {"core/context.py"},
}
# Modules below the constructors: they get the runtime from the object's context.
BELOW = [
    "client/session.py",
    "client/dial.py",
    "client/reports.py",
    "client/reconnect.py",
    "client/state.py",
    "server/config.py",
    "server/modes.py",
    "server/reports.py",
    "server/request_handler.py",
    "engine/connection.py",
    "engine/closing.py",
    "core/events.py",
    "core/device.py",
]


def _calls(path: str) -> list[tuple[str, int, str]]:
    """Every call of a plain or dotted name in ``path``: (name, line, enclosing function)."""
    tree = ast.parse((PACKAGE / path).read_text(encoding="utf-8"))
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef) else where
            if isinstance(child, ast.Call):
                func = child.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                found.append((name, child.lineno, where))
            visit(child, inner)

    visit(tree, "<module>")
    return found


def test_the_default_profile_is_read_only_where_a_context_is_resolved() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for name, line, _ in _calls(rel):
            if name in DEFAULT_READERS and rel not in DEFAULT_READERS[name]:
                offenders.append(f"{rel}:{line} {name}()")
    assert offenders == []


def test_the_runtime_comes_from_the_context_below_the_constructors() -> None:
    offenders = [
        f"{rel}:{line}"
        for rel in BELOW
        for name, line, _ in _calls(rel)
        if name in ("get_runtime", "is_device", "get_profile")
    ]
    assert offenders == []
    for rel in ("client/websocket.py", "server/websocket_server.py"):
        places = {where for name, _, where in _calls(rel) if name == "get_runtime"}
        assert places == {"__init__"}, rel  # the constructor resolves the context, once
