"""The package's modules, and importing each of them in an interpreter of its own."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import ohws_jupyter

from .paths import ROOT

__all__ = ["first_importers", "import_alone", "loaded_by_the_package", "package_modules"]

# Runs the command line when imported: never imported by a test.
NOT_IMPORTED = frozenset({"ohws_jupyter.__main__"})


def package_modules() -> list[str]:
    """Every module and subpackage of ``ohws_jupyter``, the package itself first."""
    names = ["ohws_jupyter"]
    for info in pkgutil.walk_packages(ohws_jupyter.__path__, "ohws_jupyter."):
        if info.name not in NOT_IMPORTED:
            names.append(info.name)
    return sorted(names)


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def loaded_by_the_package() -> set[str]:
    """The modules a fresh ``import ohws_jupyter`` loads.

    Importing any of them alone runs exactly that import first, so only the
    others need an interpreter of their own to show that they import alone.
    """
    return set(
        json.loads(_run("import json, sys, ohws_jupyter; print(json.dumps([*sys.modules]))"))
    )


def import_alone(names: list[str]) -> dict[str, str]:
    """Import each module in a fresh interpreter (all at once); the failures' last lines."""
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for name in names
    }
    failed = {}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failed[name] = (err.strip().splitlines() or ["(no output)"])[-1]
    return failed


def first_importers(names: list[str], packages: tuple[str, ...]) -> dict[str, str]:
    """For each of ``packages``, the first of ``names`` whose import loaded it.

    One fresh interpreter imports the modules in turn. ``sys.modules`` only
    grows, so the module after which a package first appears is one that
    imports it, and would import it alone too.
    """
    code = (
        "import importlib, json, sys\n"
        "first = {}\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"    for pkg in {packages!r}:\n"
        "        if pkg in sys.modules and pkg not in first:\n"
        "            first[pkg] = name\n"
        "print(json.dumps(first))\n"
    )
    return json.loads(_run(code))
