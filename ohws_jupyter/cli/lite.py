"""``python -m ohws_jupyter lite``: an offline JupyterLite site with this package.

The site is a folder of static files: JupyterLab and Python (Pyodide) run in
the page, and every notebook runs with no server at all. Nothing in it comes
from a CDN, so a USB stick or any static web host can serve it.

What goes in, and where it comes from:

* Pyodide's core files (``pyodide.mjs``, the WebAssembly, the standard
  library, ``pyodide-lock.json``) from npm's ``pyodide`` package of exactly the
  version the Pyodide kernel pins (the kernel itself only names a CDN);
* the pure-Python wheels the kernel loads at start (micropip, IPython, jedi and
  theirs) from PyPI, at the versions of Pyodide's lock file. PyPI's wheels are
  not byte for byte Pyodide's, so the lock file gets their names and hashes;
* this package as a wheel (built from the checkout, or packed from the
  installed package where there is no checkout), and the wheels it needs
  (websockets, ipywidgets, anywidget and theirs), at the versions installed
  here, so that the widgets' front ends, which the build takes from this
  environment, match their Python halves. They are offered to ``%pip`` (piplite,
  with no fallback to PyPI) and entered in the lock file, so that the kernel
  loads ``ohws_jupyter`` at start and the notebooks run as they are;
* the notebooks, as the browser runs them, and the folders beside them (the
  lessons' certificates). A cell that cannot run there keeps its browser
  version in its metadata (``"ohws_jupyter": {"browser": SOURCE}``), which
  must start with a ``# In the browser`` comment that says why; a notebook
  that cannot run there at all says so in its own metadata
  (``"ohws_jupyter": {"browser": false, "why": ...}``) and is left out.

Downloads are kept in a cache folder, so a second build needs no network.
``--serve`` then serves the site on 127.0.0.1 and prints its URL; without it
the command says how to serve it. Opened as a file, the site's pages say so
themselves (:mod:`.lite_notice`).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import http.server
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .lite_notice import add_file_notice, how_to_serve
from .lite_output import OutputError, check_output, file_sha256, place_site
from .notebooks import find_notebooks

__all__ = [
    "BROWSER_MARK",
    "KERNEL_START",
    "LITE_PACKAGES",
    "LiteError",
    "add_arguments",
    "browser_notebook",
    "build",
    "default_cache",
    "run",
    "serve",
]

#: Packages of Pyodide's lock file that the kernel loads as it starts (with theirs).
KERNEL_START = ("micropip", "ipython", "jedi", "typing-extensions")
#: Our wheels for the page: this package and what it needs there (with theirs).
LITE_PACKAGES = (
    "websockets",
    "comm",
    "ipywidgets",
    "jupyterlab_widgets",
    "anywidget",
    "psygnal",
)
#: Lock-file dependencies of the wheels above, by normalized name; the lock
#: file's loader does not read wheel metadata, so they are stated here.
_LOCK_DEPENDS = {
    "ohws-jupyter": ["websockets", "ipython", "ipywidgets", "anywidget"],
    "ipywidgets": ["comm", "ipython", "traitlets", "jupyterlab-widgets"],
    "anywidget": ["ipywidgets", "psygnal", "typing-extensions"],
}
#: Files of npm's ``pyodide`` package that the page needs.
_PYODIDE_FILES = (
    "pyodide.mjs",
    "pyodide.js",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
)
_KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
#: The notebook and cell metadata key of what differs in the browser.
_META = "ohws_jupyter"
#: How a cell's browser version starts: a comment that says why it differs.
BROWSER_MARK = "# In the browser"
#: The Pyodide kernel's name, so that no notebook asks which kernel to start.
_KERNELSPEC = {"name": "python", "display_name": "Python (Pyodide)", "language": "python"}


class LiteError(Exception):
    """The site cannot be built; the message says what to do."""


def default_cache() -> Path:
    """Where downloads are kept between builds."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ohws_jupyter" / "lite"


def _checkout() -> Path | None:
    """The checkout this package runs from, or None when it is installed."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _wheel_parts(path: Path) -> tuple[str, str]:
    """The normalized project name and the version of a wheel file."""
    name, version = path.name.split("-")[:2]
    return _normalize(name), version


def _say(message: str) -> None:
    print(f"lite: {message}", file=sys.stderr, flush=True)


def _run(cmd: Sequence[str], what: str, cwd: Path | None = None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise LiteError(f"{what} needs `{cmd[0]}`, which is not installed") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise LiteError(f"{what} failed ({' '.join(cmd[:3])} ...):\n{tail}")


def _kernel_versions() -> tuple[str, str]:
    """The Pyodide version the JupyterLite kernel pins, and its Python version."""
    try:
        from jupyterlite_pyodide_kernel import constants
    except ImportError as exc:
        raise LiteError(
            "building the site needs JupyterLite: pip install 'ohws_jupyter[lite]' "
            "(jupyterlite-core, jupyterlite-pyodide-kernel, jupyter_server)"
        ) from exc
    return constants.PYODIDE_VERSION, constants.PYODIDE_PYTHON_VERSION


# -- downloads (cached) -----------------------------------------------------------------
def _pyodide_core(version: str, cache: Path) -> Path:
    """npm's ``pyodide`` package of ``version``, as a tarball in the cache."""
    tarball = cache / f"pyodide-{version}.tgz"
    if tarball.is_file():
        return tarball
    _say(f"downloading Pyodide {version} (npm package 'pyodide')")
    with tempfile.TemporaryDirectory() as tmp:
        _run(
            ["npm", "pack", f"pyodide@{version}", "--pack-destination", tmp, "--silent"],
            "downloading Pyodide from npm (the first build needs the network)",
        )
        (packed,) = Path(tmp).glob("pyodide-*.tgz")
        shutil.move(str(packed), tarball)
    return tarball


def _cached_wheels(folder: Path) -> dict[tuple[str, str], Path]:
    # Pure wheels only: "py3-none-any" or "py2.py3-none-any".
    return {
        _wheel_parts(p): p
        for p in folder.glob("*-none-any.whl")
        if "py3" in p.name.split("-")[-3].split(".")
    }


def _download_wheels(
    wanted: Iterable[tuple[str, str]], cache: Path, python_version: str
) -> dict[str, Path]:
    """Pure-Python wheels of ``(name, version)`` pairs, from the cache or PyPI."""
    folder = cache / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    wanted = sorted({(_normalize(n), v) for n, v in wanted})
    have = _cached_wheels(folder)
    missing = [(n, v) for n, v in wanted if (n, v) not in have]
    if missing:
        _say(f"downloading {len(missing)} wheel(s) from PyPI: {', '.join(n for n, _ in missing)}")
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                "any",
                "--python-version",
                python_version,
                "--implementation",
                "py",
                "--abi",
                "none",
                "--dest",
                str(folder),
                *[f"{n}=={v}" for n, v in missing],
            ],
            "downloading wheels from PyPI (the first build needs the network; later "
            "builds take them from the cache)",
        )
        have = _cached_wheels(folder)
    out = {}
    for name, version in wanted:
        path = have.get((name, version))
        if path is None:
            raise LiteError(f"PyPI has no pure-Python wheel of {name} {version}")
        out[name] = path
    return out


def _build_requirements(root: Path) -> list[str]:
    """The checkout's ``[build-system] requires``."""
    text = (root / "pyproject.toml").read_text("utf-8")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        match = re.search(r"^requires\s*=\s*\[(.*?)\]", text, re.M | re.S)
        return re.findall(r'"([^"]+)"', match.group(1)) if match else ["setuptools"]
    return list(tomllib.loads(text)["build-system"]["requires"])


def _build_tools(root: Path, cache: Path) -> Path:
    """A folder of the wheels that build this package, kept in the cache."""
    folder = cache / "build-tools"
    requirements = _build_requirements(root)
    stamp = folder / "requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if stamp.is_file() and stamp.read_text("utf-8") == wanted:
        return folder
    _say(f"downloading the build tools: {', '.join(requirements)}")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--dest",
            str(folder),
            *requirements,
        ],
        "downloading the build tools from PyPI (the first build needs the network)",
    )
    stamp.write_text(wanted, "utf-8")
    return folder


def _pack_installed_wheel(dest: Path) -> Path:
    """The installed package as a wheel again: its files and its metadata, no build.

    The lesson notebooks it carries are left out: the site holds them as contents.
    """
    try:
        dist = importlib.metadata.distribution("ohws_jupyter")
    except importlib.metadata.PackageNotFoundError as exc:
        raise LiteError(
            "ohws_jupyter is neither a checkout nor installed; pip install it first"
        ) from exc
    package = Path(__file__).resolve().parents[1]
    info = f"ohws_jupyter-{dist.version}.dist-info"
    members: list[tuple[str, Path]] = []
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package.parent)
        if path.is_file() and "__pycache__" not in rel.parts and rel.parts[1] != "notebooks":
            members.append((rel.as_posix(), path))
    for entry in dist.files or []:
        parts = Path(str(entry)).parts
        if parts[0].endswith(".dist-info") and parts[-1] not in _NOT_IN_A_WHEEL:
            members.append(("/".join((info, *parts[1:])), Path(str(entry.locate()))))
    wheel = dest / f"ohws_jupyter-{dist.version}-py3-none-any.whl"
    dest.mkdir(parents=True, exist_ok=True)
    record = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in members:
            data = path.read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{name},sha256={digest.decode()},{len(data)}")
            zf.writestr(name, data)
        record.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


#: Files of an installed dist-info that the installer wrote, not the wheel.
_NOT_IN_A_WHEEL = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def _build_our_wheel(dest: Path, cache: Path) -> Path:
    """This package as a wheel: built from the checkout with no network, or packed
    from the installed package where there is no checkout."""
    root = _checkout()
    if root is None:
        return _pack_installed_wheel(dest)
    tools = _build_tools(root, cache)
    with tempfile.TemporaryDirectory() as tmp:
        # Build from a copy: the build's scratch folders stay out of the checkout.
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy2(root / name, src / name)
        shutil.copytree(
            root / "ohws_jupyter",
            src / "ohws_jupyter",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-index",
                "--find-links",
                str(tools),
                "--wheel-dir",
                str(dest),
                str(src),
            ],
            "building the ohws_jupyter wheel",
        )
    (wheel,) = dest.glob("ohws_jupyter-*.whl")
    return wheel


# -- the lock file ----------------------------------------------------------------------
def _closure(packages: dict[str, dict[str, Any]], roots: Iterable[str]) -> list[str]:
    """``roots`` and everything they depend on, as keys of the lock's packages."""
    seen: list[str] = []
    todo = [_normalize(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in packages:
            raise LiteError(f"Pyodide's lock file has no package {name!r}")
        seen.append(name)
        todo.extend(_normalize(d) for d in packages[name].get("depends", []))
    return sorted(seen)


def _imports(wheel: Path) -> list[str]:
    """The top-level modules a wheel installs."""
    names = set()
    with zipfile.ZipFile(wheel) as zf:
        for entry in zf.namelist():
            top = entry.split("/")[0]
            if top.endswith((".dist-info", ".data")):
                continue
            if "/" in entry and top.isidentifier():
                names.add(top)
            elif entry.endswith(".py") and "/" not in entry:
                names.add(entry[:-3])
    return sorted(names)


def _lock_entry(wheel: Path, name: str, version: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "file_name": wheel.name,
        "install_dir": "site",
        "sha256": file_sha256(wheel),
        "package_type": "package",
        "imports": _imports(wheel),
        "depends": _LOCK_DEPENDS.get(name, []),
        "unvendored_tests": False,
    }


# -- the notebooks ---------------------------------------------------------------------
def browser_notebook(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The notebook at ``path`` as the browser runs it, or None and why it is left out.

    Cells with a browser version get it in place of their source. Outputs,
    execution counts and saved widget state are dropped, whatever the file on
    disk holds (a notebook run and saved in JupyterLab has them): the site
    starts every notebook clean.

    Raises:
        LiteError: A browser version does not start with :data:`BROWSER_MARK`.
    """
    nb = json.loads(path.read_text("utf-8"))
    meta = nb.get("metadata", {}).get(_META, {})
    if meta.get("browser") is False:
        return None, str(meta.get("why", "it cannot run in a browser"))
    changed = 0
    nb.get("metadata", {}).pop("widgets", None)
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        variant = cell.get("metadata", {}).get(_META, {}).get("browser")
        if variant is None:
            continue
        source = "".join(variant) if isinstance(variant, list) else str(variant)
        if not source.startswith(BROWSER_MARK):
            raise LiteError(
                f"{path.name}, cell {index}: a cell's browser version must start with a "
                f"'{BROWSER_MARK} ...' comment that says why it differs"
            )
        cell["source"] = source
        changed += 1
    nb.setdefault("metadata", {})["kernelspec"] = dict(_KERNELSPEC)
    return nb, f"{changed} cell(s) in their browser version" if changed else "as it is"


# -- the site -----------------------------------------------------------------------------
def _installed_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError as exc:
        raise LiteError(
            f"{name} is not installed here; the site takes its version (and its front end) "
            f"from this environment: pip install 'ohws_jupyter[lite]'"
        ) from exc


def build(
    output: Path,
    *,
    cache: Path | None = None,
    notebooks: Path | None = None,
    force: bool = False,
) -> Path:
    """Build the site into ``output``; returns ``output``.

    Only files an earlier build wrote (its manifest lists them) are replaced
    or deleted; see :mod:`ohws_jupyter.cli.lite_output`.

    Raises:
        LiteError: A tool or a download is missing, or the build would touch a
            file it did not write and ``force`` is false; the message says which.
    """
    started = time.monotonic()
    pyodide_version, python_version = _kernel_versions()
    cache = (cache or default_cache()).expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    output = output.expanduser().resolve()
    try:
        check_output(output, force=force)
    except OutputError as exc:
        raise LiteError(str(exc)) from exc
    if notebooks is None:
        notebooks = find_notebooks(None)
    notebooks = notebooks.expanduser().resolve()
    if not notebooks.is_dir():
        raise LiteError(f"{notebooks} is not a folder; give --notebooks a folder of .ipynb files")

    with tempfile.TemporaryDirectory(prefix="ohws-lite-") as tmp:
        lite_dir = Path(tmp) / "lite"
        static = lite_dir / "static" / "pyodide"
        static.mkdir(parents=True)
        pypi = lite_dir / "pypi"
        pypi.mkdir()

        # Pyodide's core files.
        with tarfile.open(_pyodide_core(pyodide_version, cache)) as tar:
            for name in _PYODIDE_FILES:
                member = tar.extractfile(f"package/{name}")
                if member is None:
                    raise LiteError(f"npm's pyodide {pyodide_version} has no {name}")
                (static / name).write_bytes(member.read())
        lock_path = static / "pyodide-lock.json"
        lock = json.loads(lock_path.read_text("utf-8"))
        packages = lock["packages"]

        # The wheels the kernel loads at start, from PyPI instead of Pyodide's CDN.
        start = _closure(packages, KERNEL_START)
        fetched = _download_wheels(
            [(packages[n]["name"], packages[n]["version"]) for n in start], cache, python_version
        )
        for key in start:
            wheel = fetched[_normalize(packages[key]["name"])]
            shutil.copy2(wheel, static / wheel.name)
            packages[key]["file_name"] = wheel.name
            packages[key]["sha256"] = file_sha256(wheel)

        # Ours, and what it needs in the page, at the versions installed here.
        ours = _download_wheels(
            [(n, _installed_version(n)) for n in LITE_PACKAGES], cache, python_version
        )
        ours["ohws-jupyter"] = _build_our_wheel(Path(tmp) / "ours", cache)
        for key, wheel in sorted(ours.items()):
            shutil.copy2(wheel, pypi / wheel.name)
            shutil.copy2(wheel, static / wheel.name)
            _, version = _wheel_parts(wheel)
            packages[key] = _lock_entry(wheel, key, version)
        lock_path.write_text(json.dumps(lock, indent=1, sort_keys=True), "utf-8")

        config = {
            "jupyter-lite-schema-version": 0,
            "jupyter-config-data": {
                "appName": "ohws_jupyter",
                "litePluginSettings": {
                    _KERNEL_PLUGIN: {
                        "disablePyPIFallback": True,
                        # Loaded as the kernel starts: the notebooks need no %pip cell.
                        "loadPyodideOptions": {"packages": ["ohws-jupyter"]},
                    }
                },
            },
        }
        (lite_dir / "jupyter-lite.json").write_text(json.dumps(config, indent=2), "utf-8")
        # Settings of JupyterLab's own that would reach the network: no news, no updates.
        (lite_dir / "overrides.json").write_text(
            json.dumps(
                {
                    "@jupyterlab/apputils-extension:notification": {
                        "fetchNews": "false",
                        "checkForUpdates": False,
                    }
                },
                indent=2,
            ),
            "utf-8",
        )

        contents = lite_dir / "contents"
        contents.mkdir()
        for notebook in sorted(notebooks.glob("*.ipynb")):
            nb, how = browser_notebook(notebook)
            if nb is None:
                _say(f"left out {notebook.name}: {how}")
                continue
            _say(f"notebook {notebook.name}: {how}")
            text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
            (contents / notebook.name).write_text(text, "utf-8")
        for folder in sorted(notebooks.iterdir()):
            # What the notebooks read (the lessons' certificates), beside them as in a checkout.
            if folder.is_dir() and not folder.name.startswith("."):
                skip = shutil.ignore_patterns(".*", "__pycache__")
                shutil.copytree(folder, contents / folder.name, ignore=skip)
                _say(f"folder {folder.name}/ beside the notebooks")

        _say("running jupyter lite build")
        staged = Path(tmp) / "site"
        _run(
            [
                sys.executable,
                "-m",
                "jupyterlite_core",
                "build",
                "--lite-dir",
                str(lite_dir),
                "--output-dir",
                str(staged),
                "--contents",
                str(contents),
                "--no-sourcemaps",
            ],
            "jupyter lite build",
            cwd=lite_dir,
        )
        _check_site(staged)
        if staged / "lab" / "index.html" not in add_file_notice(staged):
            raise LiteError("jupyter lite build made no lab/index.html with a <head> to add to")
        try:
            written = place_site(staged, output, force=force)
        except OutputError as exc:
            raise LiteError(str(exc)) from exc
    size = sum((output / rel).stat().st_size for rel in written)
    _say(
        f"built {output} ({size / 1e6:.0f} MB, Pyodide {pyodide_version}) "
        f"in {time.monotonic() - started:.0f} s"
    )
    return output


def _check_site(site: Path) -> None:
    """Fail if the site would still load Pyodide from a CDN."""
    config = json.loads((site / "jupyter-lite.json").read_text("utf-8"))
    settings = config["jupyter-config-data"]["litePluginSettings"][_KERNEL_PLUGIN]
    url = settings.get("pyodideUrl", "")
    if "://" in url or not (site / "static" / "pyodide" / "pyodide.mjs").is_file():
        raise LiteError(f"the built site does not serve Pyodide itself (pyodideUrl {url!r})")


# -- serving ------------------------------------------------------------------------------
class _Handler(http.server.SimpleHTTPRequestHandler):
    # Per instance in typeshed, as in http.server's own class body.
    extensions_map: dict[str, str] = {  # noqa: RUF012
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".json": "application/json",
        ".whl": "application/octet-stream",
    }

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per file of JupyterLab would drown the URL


def serve(site: Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A static file server of ``site`` on 127.0.0.1 (not started); port 0 picks one."""
    handler = functools.partial(_Handler, directory=str(site))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


# -- the command --------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``lite`` subcommand's options."""
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("ohws-lite"),
        help="folder to build the site into (default ./ohws-lite); a rebuild replaces only "
        "the files the last build wrote (listed in DIR/.ohws-lite) and leaves the rest",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite files in --output that the build did not write, or that were "
        "changed since (never .git)",
    )
    parser.add_argument(
        "--serve", action="store_true", help="then serve it on 127.0.0.1 and print the URL"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port for --serve (default 8000; 0: a free port)"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help=f"folder that keeps downloads between builds (default {default_cache()})",
    )
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=None,
        help="folder of notebooks (default: the ones installed with the package, or the "
        "checkout's)",
    )


def run(args: argparse.Namespace) -> int:
    """Build (and serve) as the options say; returns the exit status."""
    try:
        site = build(args.output, cache=args.cache, notebooks=args.notebooks, force=args.force)
    except LiteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if not args.serve:
        print(site)
        _say(how_to_serve(site))
        return 0
    try:
        server = serve(site, args.port)
    except OSError as err:
        print(f"error: cannot serve on 127.0.0.1:{args.port}: {err.strerror}", file=sys.stderr)
        return 1
    port = server.server_address[1]
    print(f"http://127.0.0.1:{port}/lab/index.html", flush=True)
    _say("serving; Ctrl-C stops")
    with contextlib.suppress(KeyboardInterrupt), server:
        server.serve_forever()
    return 0
