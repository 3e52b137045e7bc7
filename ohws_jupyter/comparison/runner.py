"""``compare(fn)``: run the same code under the seed and the device profiles.

Each run goes the same way, with a deadline at every wait:

1. its peer starts, if ``fn`` takes one: a fresh embedded server (``lab`` by
   default, a ``seed`` server in both runs so that only the code's side
   changes), or the URL a ``peer`` function returns;
2. ``fn(webSocket[, peer])`` runs on a thread of its own, in a copy of the
   caller's context (so a notebook cell's output goes to that cell); a
   coroutine, or anything ``fn`` returns that can be awaited, runs to its end
   on that thread's own event loop. This works the same in a plain script and
   in a Jupyter kernel whose loop is running;
3. once ``fn`` is done and nothing new has happened for ``quiet`` seconds,
   every client it left open is closed and every server it left running is
   stopped; the run waits for them to end;
4. the peer stops.

What ``fn`` raises, or a deadline that passed, is a step of the run, not an
exception of ``compare``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

from ..core.errors import PARAMETER_ERROR, BusinessError
from ..server.config import MODES
from ..server.websocket_server import ServerState, WebSocketServer, createWebSocketServer
from .recorder import Run, RunNamespace, make
from .result import Comparison

__all__ = [
    "CLOSE_TIMEOUT",
    "DEFAULT_PEER",
    "DEFAULT_TIMEOUT",
    "PROFILES",
    "QUIET",
    "compare",
    "wants_peer",
]

#: The profiles, in the order they run.
PROFILES = ("seed", "device")
#: Seconds ``fn`` may take in each run.
DEFAULT_TIMEOUT = 10.0
#: Seconds each closing (of what ``fn`` left open, and of the peer) may take.
CLOSE_TIMEOUT = 5.0
#: Seconds without a new step after which a run counts as settled.
QUIET = 0.25
#: The peer a run starts when ``fn`` takes one and ``peer`` is not given.
DEFAULT_PEER = "lab"


def compare(
    fn: Callable[..., Any],
    *,
    peer: str | Callable[[], str] | None = DEFAULT_PEER,
    timeout: float = DEFAULT_TIMEOUT,
    quiet: float = QUIET,
) -> Comparison:
    """Run ``fn`` once under ``seed`` and once under ``device``; what differed.

    Args:
        fn: ``fn(webSocket)`` or ``fn(webSocket, peer)``, a plain or a coroutine
            function. ``webSocket`` is the OHOS namespace of the run: its
            ``createWebSocket()`` and ``createWebSocketServer()`` make objects of
            the run's profile, and everything that happens on them is recorded.
            ``peer`` is the URL of a peer started for this run alone.
        peer: What the peer is, if ``fn`` takes one: ``'lab'`` (the default: an
            embedded server that echoes and misbehaves on command, see
            ``ohws_jupyter.server.modes``), ``'echo'`` or ``'broadcast'``; a
            function that returns the URL of a fresh peer (called once per
            run); or a ``ws://`` URL both runs use.
        timeout: Seconds ``fn`` may take in each run (and the bound of the waits
            after it); past it the run is recorded as not finished.
        quiet: Seconds without anything new after which a run counts as over.

    Returns:
        A :class:`~ohws_jupyter.comparison.result.Comparison`: two columns in a
        notebook or a terminal, ``.differences``, and the runs ``.seed`` and
        ``.device``.

    Raises:
        BusinessError: 401 for a bad argument.
    """
    if not callable(fn):
        raise BusinessError(PARAMETER_ERROR, f"compare() needs a function, not {fn!r}")
    for name, value in (("timeout", timeout), ("quiet", quiet)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise BusinessError(
                PARAMETER_ERROR, f"compare(): {name} must be a positive number of seconds"
            )
    takes_peer = wants_peer(fn)
    if takes_peer:
        _check_peer(peer)
    runs = [_run(fn, profile, peer if takes_peer else None, timeout, quiet) for profile in PROFILES]
    return Comparison(*runs)


def wants_peer(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` takes a second positional argument (the peer's URL)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


def _check_peer(peer: Any) -> None:
    if callable(peer) or peer in MODES:
        return
    if isinstance(peer, str) and peer.lower().startswith(("ws://", "wss://")):
        return
    modes = ", ".join(repr(m) for m in MODES)
    raise BusinessError(
        PARAMETER_ERROR,
        f"compare(): fn takes a peer, so peer must be {modes}, a function that returns "
        f"a ws:// URL, or a ws:// URL; not {peer!r}",
    )


# -- one run ---------------------------------------------------------------------------------------
def _run(fn: Callable[..., Any], profile: str, peer: Any, timeout: float, quiet: float) -> Run:
    run = Run(profile)
    server: WebSocketServer | None = None
    try:
        if peer is not None:
            server, run.peer = _start_peer(peer, timeout)
            run.place(run.peer, "peer")
        args: tuple[Any, ...] = (
            (RunNamespace(run),) if peer is None else (RunNamespace(run), run.peer)
        )
        run.restart_clock()
        _call(fn, args, run, timeout)
        run.wait_quiet(quiet, time.monotonic() + timeout)
    finally:
        # Also when interrupted (Ctrl-C in a terminal, a kernel interrupt): nothing stays open.
        _close_leftovers(run)
        if server is not None:
            _settle(server.stop(), CLOSE_TIMEOUT)
    run.wait_quiet(quiet, time.monotonic() + CLOSE_TIMEOUT)  # the last callbacks
    return run


def _start_peer(peer: Any, timeout: float) -> tuple[WebSocketServer | None, str]:
    if isinstance(peer, str) and peer in MODES:
        # The same peer in both runs: only the side of the code under comparison changes.
        server = make(createWebSocketServer, "seed")
        server.start({"serverPort": 0, "mode": peer}).result(timeout)
        return server, str(server.url)
    if callable(peer):
        url = peer()
        if not isinstance(url, str) or not url.lower().startswith(("ws://", "wss://")):
            raise BusinessError(
                PARAMETER_ERROR, f"compare(): peer() returned {url!r}, not a ws:// URL"
            )
        return None, url
    return None, peer


def _call(fn: Callable[..., Any], args: tuple[Any, ...], run: Run, timeout: float) -> None:
    """Run ``fn(*args)`` on a thread of its own; its outcome becomes a step."""
    outcome: list[tuple[str, Any]] = []
    done = threading.Event()

    def work() -> None:
        try:
            out = fn(*args)
            if inspect.isawaitable(out):
                out = asyncio.run(_bounded(out, timeout))
            outcome.append(("returned", out))
        except BaseException as exc:  # the code's error is a step of the run
            outcome.append(("raised", exc))
        finally:
            done.set()

    context = contextvars.copy_context()
    name = f"compare-{run.profile}"
    threading.Thread(target=context.run, args=(work,), name=name, daemon=True).start()
    # The coroutine is cut at `timeout`; a plain function cannot be: wait a little longer.
    if not done.wait(timeout + 1.0):
        run.add("fn", full=f"did not finish within {timeout:g} s; it goes on in the background")
        return
    kind, value = outcome[0]
    if kind == "raised" and isinstance(value, TimeoutError) and str(value) == _CUT:
        run.add("fn", full=f"did not finish within {timeout:g} s; it was cancelled")
    elif kind == "raised":
        run.add("fn raised", value)
    elif value is not None:
        run.add("fn returned", value)


_CUT = "compare: fn did not finish in time"


async def _bounded(awaitable: Any, timeout: float) -> Any:
    async def wait() -> Any:
        return await awaitable

    try:
        return await asyncio.wait_for(wait(), timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(_CUT) from None


def _close_leftovers(run: Run) -> None:
    """Close the clients ``fn`` left open and stop its servers; wait for them, within bounds."""
    closing = []
    for name, ws in run.clients:
        if ws.readyState in (0, 1):  # CONNECTING, OPEN
            run.add(f"{name} left open", full=ws.state.name)
            closing.append(ws.close({"code": 1000, "reason": "compare: end of run"}))
    for name, server in run.servers:
        if server.state in (ServerState.STARTING, ServerState.RUNNING):
            run.add(f"{name} left running", full=server.state.name)
            closing.append(server.stop())
    end = time.monotonic() + CLOSE_TIMEOUT
    for promise in closing:
        _settle(promise, end - time.monotonic())
    run.wait_for(lambda: all(ws.readyState == 3 for _, ws in run.clients), end)


def _settle(promise: Any, timeout: float) -> None:
    # Its outcome, if it matters, is already a step; only the deadline matters here.
    with contextlib.suppress(Exception):
        promise.result(max(timeout, 0.01))
