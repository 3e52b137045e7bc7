"""The settings one ``WebSocket`` or ``WebSocketServer`` lives by, fixed when it is created.

A :class:`Context` holds what used to be read from process-wide switches at
every call: the behaviour profile (``seed`` or ``device``), the error texts,
the stand-ins for the network permission and the allowed hosts, the transport
that opens a client's sessions, and the runtime (I/O thread and callback
lanes) the object runs on. ``createWebSocket()`` and ``createWebSocketServer()``
call :func:`resolve_context` once; everything below them (the session, dialing,
events, the engine's connection) reads the object's context and no switch.

``set_profile()``, ``OHWS_PROFILE``, ``set_network_permission()`` and
``set_allowed_hosts()`` set the defaults that :func:`resolve_context` reads, so
they apply to objects created afterwards. ``createWebSocket(profile='device')``
picks the profile of one object.

The runtime and the session factory are typed loosely because this module
imports nothing outside the core: the constructors pass them in.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import checks, profile
from .errors import PARAMETER_ERROR, BusinessError

__all__ = ["Context", "ContextOwner", "resolve_context"]


@dataclass(frozen=True)
class Context:
    """One object's profile and settings; immutable, shared by its session and engine.

    Attributes:
        profile: ``'seed'`` or ``'device'``.
        device_texts: Whether this object's ``BusinessError`` messages are a
            device's own texts (the detail then goes to ``.hint``).
        network_permission: The stand-in for ``ohos.permission.INTERNET``:
            without it ``connect`` is a 201.
        allowed_hosts: The hosts ``connect`` may reach (lower case); ``None``
            allows all (otherwise 2302998).
        runtime: The engine's ``Runtime`` the object runs on: its I/O loop and lanes.
        session_factory: What a client's ``connect`` opens a session with,
            ``factory(link, url, options, tls, promise, lane)``; ``None`` on a server.
    """

    profile: str = "seed"
    device_texts: bool = False
    network_permission: bool = True
    allowed_hosts: frozenset[str] | None = None
    runtime: Any = None
    session_factory: Callable[..., Any] | None = None

    @property
    def is_device(self) -> bool:
        """Whether this object follows the ``device`` profile."""
        return self.profile == "device"

    def replace(self, **changes: Any) -> Context:
        """A copy with some fields changed (the context itself never changes)."""
        return dataclasses.replace(self, **changes)

    # -- errors ------------------------------------------------------------------------
    def error(self, code: int, detail: str = "", data: Any = None) -> BusinessError:
        """A ``BusinessError`` worded with this object's texts."""
        return BusinessError(code, detail, data, device=self.device_texts)

    def localize(self, exc: BaseException) -> BaseException:
        """Word ``exc`` (in place, if a ``BusinessError``) with this object's texts.

        Errors are made deep in the core and the engine, which know no object;
        each object words them once, where they leave it for the user.
        """
        if isinstance(exc, BusinessError):
            exc.use_texts(device=self.device_texts)
        return exc

    # -- checks ------------------------------------------------------------------------
    def check_url(self, url: Any) -> urllib.parse.SplitResult:
        """Validate ``url`` (see :func:`~ohws_jupyter.core.checks.check_url`) and this
        object's network permission and allowed hosts: 201 and 2302998 otherwise."""
        parts = checks.check_url(url)
        checks.check_access(parts, self.network_permission, self.allowed_hosts)
        return parts

    # -- portability warnings (seed only) ----------------------------------------------
    def portability_warning(self, kind: str, message: str) -> None:
        """Under ``seed``, warn that the calling user code would behave otherwise on a device."""
        if not self.is_device:
            profile.portability_warning(kind, message)

    def warn_close(self, code: int, reason: str) -> None:
        """Under ``seed``, warn about a ``close`` a device would send differently."""
        if not self.is_device:
            profile.warn_close(code, reason)


class ContextOwner:
    """What a ``WebSocket`` and a ``WebSocketServer`` share: their read-only
    ``profile`` and ``context``. The constructor sets ``_ctx`` once."""

    _ctx: Context

    @property
    def profile(self) -> str:
        """Extension: this object's profile, ``'seed'`` or ``'device'``, fixed at creation."""
        return self._ctx.profile

    @property
    def context(self) -> Context:
        """Extension: the settings this object was created with (profile, texts, runtime)."""
        return self._ctx


def resolve_context(
    profile_name: Any = None,
    *,
    runtime: Any = None,
    session_factory: Callable[..., Any] | None = None,
    what: str = "profile",
) -> Context:
    """The context of an object created now: the defaults, with its own profile if given.

    Args:
        profile_name: ``'seed'``, ``'device'`` (case and spaces ignored) or
            ``None`` for the default (``set_profile()``, ``OHWS_PROFILE``).
        runtime: The runtime the object runs on.
        session_factory: A client's session factory.
        what: How the caller names the argument in an error (``"profile"``).

    Raises:
        BusinessError: 401 if ``profile_name`` is not a profile.
    """
    if profile_name is None:
        name = profile.get_profile()
    elif isinstance(profile_name, str) and profile_name.strip().lower() in profile.PROFILES:
        name = profile_name.strip().lower()
    else:
        raise BusinessError(
            PARAMETER_ERROR,
            f"{what} must be 'seed' or 'device' (or left out for the default, "
            f"{profile.get_profile()!r}), not {profile_name!r}",
        )
    permission, hosts = checks.network_defaults()
    return Context(
        profile=name,
        device_texts=name == "device",
        network_permission=permission,
        allowed_hosts=hosts,
        runtime=runtime,
        session_factory=session_factory,
    )
