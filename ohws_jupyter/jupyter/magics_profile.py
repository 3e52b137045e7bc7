"""``%ws profile [NAME]``: show or switch the behaviour profile, ``seed`` or ``device``.

A thin layer over :func:`ohws_jupyter.profile.set_profile`; the router of
:mod:`ohws_jupyter.magics` takes the command with one line::

    COMMANDS.update(magics_profile.commands(COMMANDS))
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

from ..core.profile import PROFILES, get_profile, set_profile

__all__ = ["commands", "profile_command"]

_WHAT = {
    "seed": "the OHOS reference's behaviour with our checks; portability warnings on",
    "device": "as OpenHarmony's netstack behaves on a device; see docs/porting.md",
}


@magic_arguments("ws profile")
@argument("name", metavar="NAME", nargs="?", help="seed or device; omit to show the current one")
def profile_command(magics: Any, args: argparse.Namespace, cell: str | None) -> None:
    """Show or switch the behaviour profile: seed (the default) or device.

    The switch is process-wide and holds for calls made after it; open
    connections keep the profile they were opened with.
    """
    if args.name is None:
        current = get_profile()
        print(f"profile: {current}: {_WHAT[current]}")
        return
    name = args.name.strip().lower()
    if name not in PROFILES:
        raise UsageError(f"%ws profile takes seed or device, not {args.name!r}")
    before = set_profile(name)
    change = "" if before == name else f" (was {before})"
    print(f"profile: {name}{change}: {_WHAT[name]}")


def commands(existing: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The commands of this module, for ``COMMANDS.update(commands(COMMANDS))``."""
    return {"profile": profile_command}
