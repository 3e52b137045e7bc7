"""Putting a built JupyterLite site into the user's ``--output`` folder.

The folder is often a git checkout that publishes the site (GitHub Pages),
with files of the user's own beside it: ``.git``, a ``CNAME``, notes. So the
builder owns only the files it wrote, which it lists in a manifest in the
folder (:data:`MANIFEST`, with each file's SHA-256):

* a rebuild replaces the files of the manifest and deletes those of them the
  new site no longer has; every other file stays as it is;
* it refuses, before touching anything, when it would overwrite a file the
  manifest does not list, or overwrite or delete a listed file that has been
  changed since (the change is the user's now); ``force=True`` overwrites
  them;
* ``.git`` is never read, written or deleted, even with ``force=True``, and
  symbolic links are never followed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, TypeGuard

__all__ = ["MANIFEST", "OutputError", "check_output", "file_sha256", "place_site"]

#: The manifest of what the builder wrote, relative to the output folder.
MANIFEST = ".ohws-lite"
_KIND = "ohws_jupyter lite manifest"
_VERSION = 1
#: Names the builder never touches at any depth.
_NEVER = frozenset({".git"})


class OutputError(Exception):
    """The output folder holds something the build would have to touch; the message says what."""


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex, read a MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> dict[str, Path]:
    """Every entry below ``folder`` that is not a directory (links not followed), skipping .git."""
    out = {}
    for top, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in _NEVER]
        base = Path(top)
        # A link to a directory is listed by os.walk as a directory; treat it as an entry.
        # A .git file (a worktree's, a submodule's) is as untouchable as the folder.
        kept = [n for n in names if n not in _NEVER]
        for name in [*kept, *(d for d in dirs if (base / d).is_symlink())]:
            path = base / name
            out[path.relative_to(folder).as_posix()] = path
        dirs[:] = [d for d in dirs if not (base / d).is_symlink()]
    return out


def _read_manifest(output: Path, force: bool) -> dict[str, str]:
    """The files the builder wrote and their SHA-256 (none when there is no manifest)."""
    path = output / MANIFEST
    if not (path.exists() or path.is_symlink()):
        return {}
    if path.is_symlink() or not path.is_file():
        data = None
    else:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None
    if force:
        # Nothing is known to be ours: everything in the way is overwritten.
        return dict(data["files"]) if _is_manifest(data) else {}
    if not _is_manifest(data):
        raise OutputError(
            f"{path} is not a manifest this builder can read (an older build, or not "
            "ours); move it away, or pass --force to overwrite what the new site needs"
        )
    return dict(data["files"])


def _is_manifest(data: object) -> TypeGuard[dict[str, Any]]:
    return (
        isinstance(data, dict)
        and data.get("kind") == _KIND
        and isinstance(data.get("files"), dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in data["files"].items())
    )


def check_output(output: Path, *, force: bool = False) -> None:
    """Fail early, before a build, on an output that can never be used.

    Raises:
        OutputError: ``output`` is a file, lies inside a ``.git`` folder, or
            holds a manifest this builder cannot read (unless ``force``).
    """
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output} is a file; give --output a folder")
    if _NEVER & set(output.parts):
        raise OutputError(f"{output} is inside a .git folder; give --output another folder")
    if output.is_dir():
        _read_manifest(output, force)


def _stale(staged: dict[str, Path], output: Path, force: bool) -> list[str]:
    """The old site's files to delete; raises when anything not ours is in the way."""
    owned = _read_manifest(output, force) if output.is_dir() else {}
    present = _files(output) if output.is_dir() else {}
    problems: list[str] = []
    for rel in sorted(staged):
        parents = [str(p) for p in PurePosixPath(rel).parents if str(p) != "."]
        for parent in parents:
            path = output / parent
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                problems.append(f"{parent} (a file or link where the site needs a folder)")
        target = output / rel
        if target.is_dir() and not target.is_symlink():
            problems.append(f"{rel} (a folder where the site writes a file)")
        elif rel in present:
            if rel not in owned:
                problems.append(f"{rel} (not written by this builder)")
            elif target.is_symlink() or file_sha256(target) != owned[rel]:
                problems.append(f"{rel} (changed since it was built)")
    stale = [rel for rel in sorted(owned) if rel not in staged and rel in present]
    for rel in stale:
        target = output / rel
        if target.is_symlink() or file_sha256(target) != owned[rel]:
            problems.append(f"{rel} (changed since it was built; the new site drops it)")
    if problems and not force:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise OutputError(
            f"{output} holds files this builder did not write, or changed since, that the "
            f"build would overwrite or delete:\n  {shown}{more}\n"
            "move them away, choose another --output, or pass --force to replace them "
            "(.git is never touched)"
        )
    return stale


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def place_site(staged: Path, output: Path, *, force: bool = False) -> list[str]:
    """Move the site built in ``staged`` into ``output``; returns the files written.

    Files of ``output`` that the previous build wrote are replaced or deleted;
    every other file is left alone, and ``.git`` is never touched.

    Raises:
        OutputError: The build would overwrite or delete a file it did not
            write, or one changed since it was built, and ``force`` is false.
    """
    check_output(output, force=force)
    new = {rel: path for rel, path in _files(staged).items() if rel != MANIFEST}
    stale = _stale(new, output, force)
    output.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for rel in sorted(new):
        target = output / rel
        for parent in reversed(PurePosixPath(rel).parents):
            path = output / parent
            if str(parent) != "." and (path.is_symlink() or path.is_file()):
                _remove(path)  # only reached with force: _stale refused otherwise
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            _remove(target)
        hashes[rel] = file_sha256(new[rel])
        shutil.move(str(new[rel]), target)
    for rel in stale:
        (output / rel).unlink()
        for parent in PurePosixPath(rel).parents:
            path = output / parent
            if str(parent) == "." or any(path.iterdir()):
                break
            path.rmdir()  # a folder the old site had and the new one does not
    manifest = {"kind": _KIND, "version": _VERSION, "files": hashes}
    _remove(output / MANIFEST)  # never written through a link
    (output / MANIFEST).write_text(json.dumps(manifest, indent=0, sort_keys=True) + "\n", "utf-8")
    return sorted(hashes)
