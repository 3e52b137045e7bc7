"""Options, hooks and fixtures for every tier; helpers live in :mod:`tests.helpers`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ohws_jupyter import WebSocket, createWebSocket
from tests.helpers import ThreadServer, echo_handler, running_server


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="also run the long soak variants")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak variant: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Keep each test's outcome on its item (the browser tests' failure screenshots)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


@pytest.fixture
def echo_server() -> Iterator[ThreadServer]:
    with running_server(echo_handler) as server:
        yield server


@pytest.fixture(scope="module")
def shared_echo_server() -> Iterator[ThreadServer]:
    with running_server(echo_handler) as server:
        yield server


@pytest.fixture
def ws() -> Iterator[WebSocket]:
    sock = createWebSocket()
    yield sock
    if sock.readyState in (0, 1):
        with contextlib.suppress(Exception):
            sock.close().result(10)


@pytest.fixture
def fresh_profile() -> Iterator[None]:
    """The test starts under seed, with no warning shown yet and a clean flood guard.

    The profile tests use it for every test: ``pytestmark = pytest.mark.usefixtures(...)``.
    """
    from ohws_jupyter.core import device, profile

    before = profile.set_profile("seed")
    profile._shown.clear()
    device.GUARD.reset()
    device.GUARD.clock = time.time
    yield
    profile.set_profile(before)
    device.GUARD.reset()
    device.GUARD.clock = time.time


@pytest.fixture
def peer() -> Iterator[Any]:
    """A started :class:`tests.helpers.profile_peers.Recording` server."""
    from tests.helpers.profile_peers import Recording

    rec = Recording()
    rec.server.start()
    try:
        yield rec
    finally:
        rec.release.set()
        rec.server.stop()
