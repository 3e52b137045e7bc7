"""The lesson notebooks: where they are, and the working copy the demo runs on.

An installed package carries them as package data (``ohws_jupyter/notebooks/``,
put there by the build from the repository's ``notebooks/``); a checkout has
them in ``notebooks/`` beside the package. Either way they are the source: the
demo never opens them, it copies them into a working folder and opens the copy,
so that what JupyterLab saves (outputs, scratch cells) stays with the user.

A working folder remembers, in :data:`MANIFEST`, the digest of every file as it
was copied. A later copy into the same folder replaces a file only while it is
still as copied (the package may have a newer version of it); a file the user
changed, or one the folder had before, is kept, and the copy says so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MANIFEST", "QUICKSTART", "CopyReport", "copy_notebooks", "find_notebooks"]

#: The notebook the demo opens and ``--check`` runs first.
QUICKSTART = "01-quickstart.ipynb"
#: The file in a working folder that lists what was copied there, with digests.
MANIFEST = ".ohws-demo.json"
_PACKAGE = Path(__file__).resolve().parents[1]


def find_notebooks(explicit: Path | None = None) -> Path:
    """The folder of the lesson notebooks: given, installed with the package, or the checkout's.

    Raises:
        SystemExit: None of them holds the quickstart notebook.
    """
    if explicit is not None:
        candidates = [explicit]
    else:
        candidates = [_PACKAGE / "notebooks"]
        checkout = _PACKAGE.parent
        if (checkout / "pyproject.toml").is_file():
            candidates.append(checkout / "notebooks")
    for folder in candidates:
        if (folder / QUICKSTART).is_file():
            return folder.resolve()
    where = candidates[0] if explicit is not None else "the installed package"
    raise SystemExit(
        f"error: no {QUICKSTART} in {where}; reinstall ohws_jupyter, or pass --notebooks "
        "a folder of the lesson notebooks"
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sources(folder: Path) -> list[str]:
    """The files of the lessons, relative to ``folder``: the notebooks and the folders beside."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
            continue
        if len(rel.parts) == 1 and path.suffix != ".ipynb":
            continue  # loose files at the top are not part of a lesson
        found.append(rel.as_posix())
    return found


@dataclass
class CopyReport:
    """What :func:`copy_notebooks` did, file by file (paths relative to the folder)."""

    folder: Path
    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report in words, for the terminal."""
        out = [f"working folder: {self.folder}"]
        if self.copied:
            out.append(f"  copied {len(self.copied)} file(s) of the lessons")
        if self.updated:
            out.append(f"  updated to this version: {', '.join(self.updated)}")
        for name in self.kept:
            out.append(
                f"  kept your {name}: it differs from the lesson's copy, so it was not "
                "replaced (delete it, or pass another --dir, for a fresh copy)"
            )
        return out


def copy_notebooks(source: Path, dest: Path) -> CopyReport:
    """Copy the lessons from ``source`` into ``dest``, never over a file the user changed.

    Raises:
        SystemExit: ``dest`` is ``source`` or inside it (the demo would run on the source).
    """
    source, dest = source.resolve(), dest.resolve()
    if dest == source or source in dest.parents:
        raise SystemExit(
            f"error: --dir {dest} is the folder the notebooks are copied from; the demo "
            "runs on a copy, so that the lessons stay as shipped: choose another folder"
        )
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path = dest / MANIFEST
    try:
        recorded: dict[str, str] = json.loads(manifest_path.read_text("utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = {}
    report = CopyReport(dest)
    files: dict[str, str] = {}
    for name in _sources(source):
        new = _digest(source / name)
        target = dest / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((source / name).read_bytes())
            report.copied.append(name)
        else:
            have = _digest(target)
            if have == new:
                report.unchanged.append(name)
            elif recorded.get(name) == have:  # as copied last time: the user did not touch it
                target.write_bytes((source / name).read_bytes())
                report.updated.append(name)
            else:
                report.kept.append(name)
                files[name] = recorded.get(name, "")
                continue
        files[name] = new
    manifest_path.write_text(json.dumps({"files": files}, indent=1, sort_keys=True) + "\n")
    return report
