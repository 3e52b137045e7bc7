"""The ``%ws`` command table: ``@command`` registers each command function.

A command is ``fn(magics, args, cell)`` with its own argparse parser (IPython's
``magic_arguments``) as ``fn.parser``; its docstring is its help. A command
registered with ``raw_text`` keeps the text after its options as typed
(``%ws send``, ``%ws close``, ``%ws expect``, ``%ws request``).
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from IPython.core import magic_arguments as ipython_arguments
from IPython.core.error import UsageError
from IPython.core.magic import line_cell_magic

__all__ = [
    "COMMANDS",
    "DEFAULT_NAME",
    "RAW_TEXT",
    "Command",
    "Interrupted",
    "argument",
    "command",
    "line_and_cell_magic",
    "magic_arguments",
    "overview",
    "parser_of",
    "unknown_command",
]

Command = Callable[[Any, argparse.Namespace, "str | None"], Any]

_F = TypeVar("_F", bound=Callable[..., Any])


class Decorator(Protocol):
    """A decorator that returns the function it is given."""

    def __call__(self, fn: _F, /) -> _F: ...


# IPython's magic_arguments decorators, with the types IPython leaves unwritten: each
# returns the function it decorates (having set ``fn.parser``), so a command keeps its
# signature for the checker.
#: ``@magic_arguments(name)``: the parser of command ``name``, built from the decorators below.
magic_arguments: Callable[[str], Decorator] = ipython_arguments.magic_arguments
#: ``@argument(*names, **options)``: one ``ArgumentParser.add_argument`` call.
argument: Callable[..., Decorator] = ipython_arguments.argument
#: ``@line_cell_magic(name)``: marks a ``Magics`` method as ``%name`` and ``%%name``.
line_and_cell_magic: Callable[[str], Decorator] = line_cell_magic

#: Connection name used when ``-n`` is not given; re-running a cell replaces it.
DEFAULT_NAME = "ws"
#: The router: ``%ws NAME ...`` runs ``COMMANDS[NAME]``, in the order they were registered.
COMMANDS: dict[str, Command] = {}
#: Commands whose text after the options is kept as typed: (options with a value, flags).
RAW_TEXT: dict[str, tuple[set[str], set[str]]] = {}


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or a kernel interrupt) stopped a ``%ws`` command; IPython shows one line.

    IPython prints an exception's ``_render_traceback_()`` instead of a
    traceback: the interrupt was asked for, and the frames of this package would
    only bury the sentence that says what happened to the connection.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"KeyboardInterrupt: {self}"]


def command(
    name: str, *, raw_text: tuple[set[str], set[str]] | None = None
) -> Callable[[Command], Command]:
    """Register the decorated function as ``%ws name``.

    Args:
        name: The command's name.
        raw_text: For commands that keep the rest of the line as typed: the
            options that take a value and the flags, so the options at the
            start can be split off the text.
    """

    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        if raw_text is not None:
            RAW_TEXT[name] = raw_text
        return fn

    return register


def parser_of(fn: Command) -> argparse.ArgumentParser:
    """The parser ``@magic_arguments`` set on a command function."""
    parser: argparse.ArgumentParser = getattr(fn, "parser")  # noqa: B009 (set at run time)
    return parser


def summary(fn: Command) -> str:
    """The first line of a command's own docstring (kept as its parser's description)."""
    return (parser_of(fn).description or "").strip().splitlines()[0]


def overview() -> str:
    """The list of commands that ``%ws help`` prints."""
    rows = "\n".join(f"  {name:<8} {summary(fn)}" for name, fn in COMMANDS.items())
    return (
        "%ws COMMAND [ARGS]: drive WebSocket connections from notebook cells.\n\n"
        f"Commands:\n{rows}\n\n"
        "Without -n a command acts on the most recent connection. "
        "%ws help COMMAND shows one command's options."
    )


def unknown_command(name: str) -> UsageError:
    """The UsageError for ``%ws name`` when there is no such command."""
    close = difflib.get_close_matches(name, COMMANDS, n=1)
    hint = f"did you mean %ws {close[0]}?" if close else "see %ws help"
    return UsageError(f"%ws has no command {name!r}; {hint}")
