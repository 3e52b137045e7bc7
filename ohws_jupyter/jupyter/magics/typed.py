"""A warning raised by a ``%ws`` line shows that line as it was typed.

IPython runs ``%ws close`` as ``get_ipython().run_line_magic('ws', 'close')``
and keeps that rewrite as the cell's source (``linecache``), so a warning that
names the cell's file and line, as a :class:`PortabilityWarning` from a magic
does, would print the rewrite under its message. While a ``%ws`` command runs,
the cell's line reads as typed (``%ws close``; ``%%ws send`` for the cell
form), and it reads as before once the command returns. The text comes from
the rewrite itself, before IPython expands ``$names``: what is shown is what
the cell holds, never a value a variable put there.
"""

from __future__ import annotations

import ast
import contextlib
import linecache
import re
from collections.abc import Iterator
from types import FrameType

from ...core.profile import FRAMEWORK_MODULES

__all__ = ["as_typed", "cell_frame", "typed_line"]

_CALL = re.compile(r"get_ipython\(\)\.run_(line|cell)_magic\((.*)\)\s*$")


def typed_line(source: str) -> str | None:
    """``source`` with IPython's call of a magic put back as typed, or None if it has none."""
    found = _CALL.search(source)
    if found is None:
        return None
    try:
        call = ast.parse(f"f({found.group(2)})", mode="eval").body
        # f(...) parses as a call, unless the arguments close it early (then: not ours).
        args = [ast.literal_eval(arg) for arg in call.args]  # type: ignore[attr-defined]
    except (SyntaxError, ValueError):
        return None
    if len(args) < 2 or not all(isinstance(arg, str) for arg in args[:2]):
        return None
    marks = "%" if found.group(1) == "line" else "%%"
    typed = f"{marks}{args[0]} {args[1]}".rstrip()
    return source[: found.start()] + typed + "\n"


def cell_frame(frame: FrameType | None) -> FrameType | None:
    """The first frame, from ``frame`` outwards, that is neither ours nor IPython's."""
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if not module.startswith(("ohws_jupyter", *FRAMEWORK_MODULES)):
            return frame
        frame = frame.f_back
    return None


@contextlib.contextmanager
def as_typed(frame: FrameType | None) -> Iterator[None]:
    """While the block runs, the line ``frame`` runs reads as typed in ``linecache``."""
    if frame is None:
        yield
        return
    entry = linecache.cache.get(frame.f_code.co_filename)
    at = frame.f_lineno - 1
    lines = entry[2] if entry is not None and len(entry) == 4 else None
    if not isinstance(lines, list) or not 0 <= at < len(lines):
        yield
        return
    rewritten = lines[at]
    typed = typed_line(rewritten)
    if typed is None:
        yield
        return
    lines[at] = typed
    try:
        yield
    finally:
        if at < len(lines) and lines[at] is typed:
            lines[at] = rewritten
