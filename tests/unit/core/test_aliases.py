"""The API 23 single-event names: what a type checker reads is what runs."""

from __future__ import annotations

import ast
import inspect

import pytest

from ohws_jupyter.core import aliases


def _declared() -> dict[str, set[str]]:
    """The methods each alias class declares in the module's ``if TYPE_CHECKING:`` block."""
    tree = ast.parse(inspect.getsource(aliases))
    found: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for cls in node.body:
                if isinstance(cls, ast.ClassDef):
                    found[cls.name] = {f.name for f in cls.body if isinstance(f, ast.FunctionDef)}
    return found


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("ClientEventAliases", aliases.CLIENT_ALIASES),
        ("ServerEventAliases", aliases.SERVER_ALIASES),
    ],
)
def test_the_declared_methods_are_the_ones_built_at_run_time(
    name: str, table: dict[str, str]
) -> None:
    built = {m for m in vars(getattr(aliases, name)) if m.startswith(("on", "off"))}
    assert built == {f"{side}{suffix}" for suffix in table for side in ("on", "off")}
    assert _declared()[name] == built
