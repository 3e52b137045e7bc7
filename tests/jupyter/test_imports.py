"""Every module of the package imports in an interpreter of its own.

A module that ``import ohws_jupyter`` loads is imported exactly as the package
is; the others (the command line, the Jupyter layer, the browser transport, the
lessons) each get a fresh interpreter, all at once.
"""

from __future__ import annotations

from tests.helpers.layout import import_alone, loaded_by_the_package, package_modules


def test_every_module_imports_on_its_own() -> None:
    loaded = loaded_by_the_package()
    alone = [n for n in package_modules() if n not in loaded]
    # The package itself never loads the command line or the Jupyter layer.
    assert {"ohws_jupyter.cli.main", "ohws_jupyter.jupyter.panel"} <= set(alone)
    assert import_alone(alone) == {}
    assert "ohws_jupyter" in loaded  # and the package imported on its own, above
