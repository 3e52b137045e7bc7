"""``%ws profile [NAME]``: show or switch the behaviour profile, ``seed`` or ``device``.

A thin layer over :func:`ohws_jupyter.core.profile.set_profile`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from IPython.core.error import UsageError

from ...core.profile import PROFILES, get_profile, set_profile
from .registry import argument, command, magic_arguments

if TYPE_CHECKING:
    from .shell import WebSocketMagics

__all__: list[str] = []

_WHAT = {
    "seed": "the OHOS reference's behaviour with our checks; portability warnings on",
    "device": "as OpenHarmony's netstack behaves on a device; see docs/porting.md",
}


@command("profile")
@magic_arguments("ws profile")
@argument("name", metavar="NAME", nargs="?", help="seed or device; omit to show the current one")
def profile(magics: WebSocketMagics, args: argparse.Namespace, cell: str | None) -> None:
    """Show or switch the behaviour profile: seed (the default) or device.

    It sets the default for WebSockets and servers created after it; each
    object keeps the profile it was created with (``%ws connect --profile``
    picks one for one connection).
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
