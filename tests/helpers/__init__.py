"""Helpers shared by the tests: loopback servers, event recorders, bounded waits, kernels.

Import them as a module (``from tests.helpers import Recorder, wait_until``);
fixtures live in the ``conftest.py`` files.
"""

from __future__ import annotations

from .paths import ROOT, USER_DOCS
from .servers import ConnectProxy, ThreadServer, echo_handler, running_server
from .text import without_portability_warnings
from .waiting import Recorder, wait_until

__all__ = [
    "ROOT",
    "USER_DOCS",
    "ConnectProxy",
    "Recorder",
    "ThreadServer",
    "echo_handler",
    "running_server",
    "wait_until",
    "without_portability_warnings",
]
