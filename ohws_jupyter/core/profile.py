"""Behaviour profiles: ``seed`` (the default) or ``device``, and portability warnings.

``seed`` is the contract of the OHOS reference for API 6–11 that this package
follows, with our helpful checks. ``device`` behaves as OpenHarmony's own
implementation does (``communication_netstack``, ``frameworks/js/napi/websocket``
over libwebsockets), so code that works here under ``device`` ports as it is.
The rules themselves are in :mod:`ohws_jupyter.core.device`; this module only holds
the switch and the warnings, and imports nothing that does I/O.

Each ``WebSocket`` and ``WebSocketServer`` takes its profile once, when it is
created, into its :class:`~ohws_jupyter.core.context.Context`, and keeps it:
``createWebSocket(profile='device')`` picks one for one object. What this
module holds is the default for objects created afterwards:
``set_profile('device')``, ``%ws profile device``, or ``OHWS_PROFILE=device`` in
the environment at start-up. Nothing below the object constructors reads it.

Under ``seed``, code that relies on something a device does differently, and
that can be seen at the call, gets a :class:`PortabilityWarning`: once per kind
and per place in the user's code (file and line), so a loop or a re-run cell
does not repeat it.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from types import FrameType

from .errors import PARAMETER_ERROR, BusinessError

__all__ = [
    "FRAMEWORK_MODULES",
    "PROFILES",
    "PortabilityWarning",
    "get_profile",
    "is_device",
    "portability_warning",
    "set_profile",
    "warn_close",
]

#: The profile names.
PROFILES = ("seed", "device")

_profile = "seed"


class PortabilityWarning(UserWarning):
    """Code that works here but behaves differently on an OpenHarmony device."""


def _check(name: object) -> str:
    if not isinstance(name, str) or name.strip().lower() not in PROFILES:
        raise BusinessError(PARAMETER_ERROR, f"profile must be 'seed' or 'device', not {name!r}")
    return name.strip().lower()


def set_profile(name: str) -> str:
    """Make ``'seed'`` or ``'device'`` the profile of objects created from now on.

    Objects that exist keep theirs.

    Returns:
        The profile that was in force before, so a test or a cell can restore it.

    Raises:
        BusinessError: 401 for any other name.
    """
    global _profile
    new = _check(name)
    old, _profile = _profile, new
    return old


def get_profile() -> str:
    """The default profile, ``'seed'`` or ``'device'``: what a new object takes."""
    return _profile


def is_device() -> bool:
    """Whether the default profile is ``device`` (an object: ``ws.context.is_device``)."""
    return _profile == "device"


if os.environ.get("OHWS_PROFILE", "").strip():
    # A bad value must not make the import fail: say so and keep the default.
    try:
        set_profile(os.environ["OHWS_PROFILE"])
    except Exception:
        warnings.warn(
            f"OHWS_PROFILE={os.environ['OHWS_PROFILE']!r} is not 'seed' or 'device'; using 'seed'",
            RuntimeWarning,
            stacklevel=1,
        )


# -- portability warnings ----------------------------------------------------------------------
# Calls that enter the package here come from the user: the API itself and the magics.
_USER_ENTRIES = (
    "ohws_jupyter.client.websocket",
    "ohws_jupyter.server.websocket_server",
    "ohws_jupyter.comparison.recorder",
    "ohws_jupyter.jupyter.magics",
)
#: Modules whose frames stand between a magic and the cell that typed it.
FRAMEWORK_MODULES = ("IPython.", "ipykernel.", "traitlets.", "decorator")
_shown: set[tuple[str, str, int]] = set()
_shown_lock = threading.Lock()


def _module(frame: FrameType) -> str:
    return str(frame.f_globals.get("__name__", ""))


def _user_place(frame: FrameType | None) -> FrameType | None:
    """The frame of the user's code that called into the package, or None if it was us.

    The package's own modules (the panel, replay, reconnect, ...) call the API
    too; what they do is not the user's code to fix, so it is not warned about.
    """
    entry = None
    while frame is not None and _module(frame).startswith("ohws_jupyter"):
        entry = frame
        frame = frame.f_back
    if entry is None or not _module(entry).startswith(_USER_ENTRIES):
        return None
    while frame is not None and _module(frame).startswith(FRAMEWORK_MODULES):
        frame = frame.f_back
    return frame


def portability_warning(kind: str, message: str) -> None:
    """Warn that the calling user code is not portable.

    The caller decides whether to: an object warns under ``seed`` only
    (:meth:`ohws_jupyter.core.context.Context.portability_warning`).

    Args:
        kind: What differs, e.g. ``'close-code'``; one warning per kind and place.
        message: What a device does instead and what to write.
    """
    frame = _user_place(sys._getframe(1))
    if frame is None:
        return
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    key = (kind, filename, lineno)
    with _shown_lock:
        if key in _shown:
            return
        _shown.add(key)
    # registry=None: the place is ours to track (above); Python's own registry keys
    # on the line only, and every notebook cell shares one module.
    try:
        warnings.warn_explicit(
            message,
            PortabilityWarning,
            filename,
            lineno,
            module=_module(frame) or None,
            registry=None,
            module_globals=frame.f_globals,
        )
    except ImportError:
        # `python -m pkg.mod`: the __main__ module's loader refuses to look up its
        # own source under that name; warn without the source line.
        warnings.warn_explicit(
            message, PortabilityWarning, filename, lineno, module=_module(frame) or None
        )


def warn_close(code: int, reason: str) -> None:
    """Warn about a ``close`` a device would send differently (a seed object calls it)."""
    if not 1000 <= code <= 1015:
        portability_warning(
            "close-code",
            f"close code {code}: a device sends only 1000–1015 and replaces any other "
            "code by 1000; carry application codes in a message before closing",
        )
    if not reason:
        portability_warning(
            "close-reason",
            "close with an empty reason: a device sends the reason 'CLOSE_NORMAL' instead; "
            "give a reason to send the same on both",
        )
