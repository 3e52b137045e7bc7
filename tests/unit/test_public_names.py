"""The package's public names: every ``__all__`` holds, the names of the README and the
documentation pages import from where they say, and no module outside
``ohws_jupyter.jupyter`` loads Jupyter.

That each module also imports in an interpreter of its own is tried in
``tests/jupyter/test_imports.py`` (a dozen interpreters take longer than this tier may).
"""

from __future__ import annotations

import builtins
import importlib
import re
from types import ModuleType

import pytest

import ohws_jupyter
from tests.helpers import USER_DOCS
from tests.helpers.layout import (
    first_importers,
    package_modules,
)

# The README and the pages its reference moved to, as one text.
README = "\n".join(page.read_text(encoding="utf-8") for page in USER_DOCS)
JUPYTER = ("IPython", "ipywidgets", "anywidget", "ipykernel", "comm")
MODULES = package_modules()


def is_package(module: ModuleType) -> bool:
    return hasattr(module, "__path__")


# -- __all__ --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MODULES)
def test_every_name_in_all_exists_once(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        # A package whose __init__ only describes it may go without; any other module
        # says what it exports (STYLE: every module has __all__).
        public = [
            k
            for k, v in vars(module).items()
            if not k.startswith("_") and not isinstance(v, ModuleType) and k not in ("annotations",)
        ]
        assert is_package(module) and public == [], f"{name} has no __all__ but defines {public}"
        return
    assert isinstance(exported, (list, tuple)) and all(isinstance(n, str) for n in exported)
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == [], f"{name}.__all__ names what it does not define: {missing}"


@pytest.mark.parametrize("name", [n for n in MODULES if n.count(".") == 1])
def test_a_subpackage_exports_the_very_objects_of_its_modules(name: str) -> None:
    package = importlib.import_module(name)
    if not is_package(package):
        return
    for exported in getattr(package, "__all__", []):
        value = getattr(package, exported)
        home = importlib.import_module(value.__module__) if hasattr(value, "__module__") else None
        if home is not None and home.__name__.startswith(name + "."):
            assert getattr(home, exported) is value, f"{name}.{exported}"


def test_the_top_level_exports_the_ohos_names_and_the_namespace() -> None:
    from ohws_jupyter import webSocket

    assert set(webSocket.__all__) <= set(ohws_jupyter.__all__)
    for name in webSocket.__all__:
        assert getattr(webSocket, name) is getattr(ohws_jupyter, name), name
    assert "webSocket" in ohws_jupyter.__all__
    # The panels load Jupyter on first use, so they stay out of `import *`.
    assert "WebSocketPanel" not in ohws_jupyter.__all__


# -- the README's names ---------------------------------------------------------------------------
def readme_imports() -> list[tuple[str, str]]:
    """Every ``from ohws_jupyter[.x] import a, b`` line of the README: (module, name)."""
    found = []
    for module, names in re.findall(r"^from (ohws_jupyter[\w.]*) import ([^#\n]+)", README, re.M):
        for name in names.split(","):
            found.append((module, name.strip().split(" as ")[0]))
    return found


def readme_api_table_names() -> list[str]:
    """The names of the Python column of the README's "The API, OHOS → Python" table
    (and of the OHOS column where the Python one says they are the same)."""
    section = README.split("# The API, OHOS → Python", 1)[1].split("\n## ", 1)[0]
    names = []
    for row in section.splitlines():
        cells = row.strip().strip("|").split(" | ")
        if not row.startswith("| `") or len(cells) < 3:
            continue
        python = cells[-1]
        if python.strip().startswith(("same", "dataclasses with the same")):
            python = cells[0] + " " + python
        for token in re.findall(r"`([^`]+)`", python):
            # `createWebSocket()`, `BusinessError(Exception)`, `TlsProtocol`: a call or a
            # class; not a field (`data`), a method (`on`), an enum member (`TLS_V_1_0`).
            match = re.fullmatch(r"([A-Za-z_]\w*)(\(\w*\))?", token)
            if match is None or hasattr(builtins, match[1]):
                continue
            name, called = match[1], match[2] is not None
            if called or (name[0].isupper() and not name.isupper()):
                names.append(name)
    return names


def readme_record_names() -> list[str]:
    """Names the README places in ``ohws_jupyter.record``: "`name(...)` (`ohws_jupyter.record`)"."""
    return re.findall(r"`(\w+)\([^`]*\)` \(`ohws_jupyter\.record`\)", README)


def test_the_readme_lists_names_to_check() -> None:
    assert len(readme_imports()) >= 5
    assert {"createWebSocket", "create_websocket", "BusinessError", "HttpProxy"} <= set(
        readme_api_table_names()
    )
    assert set(readme_record_names()) == {"replay", "copy_as_code"}


@pytest.mark.parametrize(("module", "name"), readme_imports(), ids="{0[0]}.{0[1]}".format)
def test_each_readme_import_line_works(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None


@pytest.mark.parametrize("name", readme_api_table_names())
def test_each_name_of_the_api_table_is_exported_at_the_top(name: str) -> None:
    assert name in ohws_jupyter.__all__ and hasattr(ohws_jupyter, name)


@pytest.mark.parametrize("name", readme_record_names())
def test_each_record_name_of_the_readme_is_exported_there(name: str) -> None:
    from ohws_jupyter import record

    assert name in record.__all__ and callable(getattr(record, name))


# -- importing without Jupyter -------------------------------------------------------------
def test_no_module_outside_jupyter_imports_jupyter() -> None:
    core = [n for n in MODULES if not n.startswith("ohws_jupyter.jupyter")]
    assert first_importers(core, JUPYTER) == {}
