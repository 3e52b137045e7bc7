"""``python -m ohws_jupyter demo``: JupyterLab on the quickstart notebook.

The demo copies the lesson notebooks into a working folder (``--dir``, by
default ``ohws-demo`` in the current folder; see :mod:`ohws_jupyter.cli.notebooks`
for what it never overwrites) and starts JupyterLab there, on 127.0.0.1 with a
fresh token, opened on ``01-quickstart.ipynb``; every notebook starts its own
embedded server, so nothing else is needed. ``--no-browser`` prints the URL
(with its token) instead of opening a browser; ``--check`` runs the notebooks
headless on a real kernel, in a temporary copy, and exits 0 if every cell ran,
1 otherwise.

Stopping: Ctrl-C or SIGTERM (or SIGHUP) stops JupyterLab, which shuts its
kernels down, waits for it with a deadline, and then ends whatever of it is
left. JupyterLab runs in its own session, so a Ctrl-C in the terminal reaches
only the demo, never JupyterLab's "Shut down this Jupyter server?" prompt.

The token travels in a file only this user can read, never on a command line
that ``ps`` shows to everyone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .notebooks import QUICKSTART, copy_notebooks, find_notebooks

__all__ = ["DEFAULT_DIR", "add_arguments", "check", "run", "serve_lab"]

#: The working folder's name when ``--dir`` is not given (in the current folder).
DEFAULT_DIR = "ohws-demo"
#: Seconds JupyterLab gets to shut its kernels down before it is killed.
STOP_TIMEOUT = 20.0
# JupyterLab settings whose defaults the demo changes: no toast asking to fetch
# Jupyter news, no update check (the demo is offline). A user's own settings win.
_LAB_DEFAULTS = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}
}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``demo`` subcommand's options."""
    parser.add_argument(
        "--no-browser", action="store_true", help="print the URL instead of opening a browser"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="run the notebooks headless on a real kernel and exit 0 (all ran) or 1",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="with --check: every notebook, not only the quickstart",
    )
    parser.add_argument(
        "--ip", default="127.0.0.1", help="JupyterLab's address (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=0, help="JupyterLab's port (default: free)")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"working folder the notebooks are copied into and JupyterLab opens "
        f"(default ./{DEFAULT_DIR}); a file you changed there is never overwritten",
    )
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=None,
        help="the folder to copy the notebooks from (default: the ones installed with "
        "the package, or the checkout's)",
    )
    parser.add_argument("--timeout", type=float, default=120, help="seconds per notebook cell")


def run(args: argparse.Namespace) -> int:
    """Run the demo as the options say; returns the exit status."""
    source = find_notebooks(args.notebooks)
    if args.check:
        names = sorted(p.name for p in source.glob("*.ipynb")) if args.all else [QUICKSTART]
        # On a copy: a lesson's run never writes beside the shipped notebooks.
        with tempfile.TemporaryDirectory(prefix="ohws-check-") as tmp:
            work = Path(tmp) / "notebooks"
            copy_notebooks(source, work)
            return check(work, names, args.timeout)
    report = copy_notebooks(source, args.dir or Path.cwd() / DEFAULT_DIR)
    print("\n".join(report.lines()), flush=True)
    return serve_lab(report.folder, args)


# -- --check ------------------------------------------------------------------------------
def _plain(text: str) -> str:
    """``text`` without terminal colour codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


def _cell_name(cell: Any, index: int) -> str:
    """'cell N (its first line)': what a reader finds the cell by."""
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    first = first if len(first) <= 40 else first[:39] + "…"
    return f"cell {index + 1} ({first})"


def check(folder: Path, names: list[str], timeout: float) -> int:
    """Execute notebooks top to bottom on a real kernel; 0 if all ran.

    A failure is reported as one plain line: the notebook, the cell, and the
    error's name and message (the full traceback is in the notebook itself).
    """
    failed = 0
    with tempfile.TemporaryDirectory(prefix="ohws-kernel-") as sockets:
        for name in names:
            failed += _check_one(folder, name, timeout, _kernel_config(Path(sockets)))
    print(f"{len(names) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


def _kernel_config(sockets: Path) -> Any:
    """The kernel talks to us over Unix sockets in ``sockets`` (IPC), not over TCP.

    Nothing else on the machine can connect to a socket file in a private
    folder, and ipykernel then has no reason to warn that it runs "over TCP
    without encryption". Windows has no IPC transport: TCP stays there.
    """
    from traitlets.config import Config

    if os.name != "posix":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": str(sockets / "kernel")}})


def _check_one(folder: Path, name: str, timeout: float, config: Any) -> int:
    """Run one notebook; print its line; 1 if it failed."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(folder / name, as_version=4)
    start = time.monotonic()
    failing: list[str] = []
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=timeout,
        config=config,
        resources={"metadata": {"path": str(folder)}},
        # The reply names the error but not the cell (a UsageError has no
        # error output to find it by): note the cell as it fails.
        on_cell_error=lambda cell, cell_index, **_: failing.append(_cell_name(cell, cell_index)),
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        message = _plain(exc.evalue).strip().splitlines()
        what = f"{exc.ename}: {message[0] if message else ''}".strip()
        where = failing[0] if failing else "a cell"
        print(f"FAIL {name}, {where}: {what}", flush=True)
        return 1
    except Exception as exc:  # a cell timed out, the kernel died, ...
        lines = _plain(str(exc)).strip().splitlines()
        print(f"FAIL {name}: {type(exc).__name__}: {lines[0] if lines else ''}", flush=True)
        return 1
    print(f"ok   {name} ({time.monotonic() - start:.1f} s)", flush=True)
    return 0


# -- JupyterLab ---------------------------------------------------------------------------
def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(url: str, proc: subprocess.Popen[Any], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.25)
    return False


def _private_config(folder: Path, token: str) -> dict[str, str]:
    """Write the token and the lab defaults under ``folder``; the environment that uses them."""
    token_file = folder / "token"
    # Created 0600 in a 0700 folder: no other user can read the token.
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    labconfig = folder / "labconfig"
    labconfig.mkdir()
    (labconfig / "default_setting_overrides.json").write_text(json.dumps(_LAB_DEFAULTS))
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"}  # it would win
    env["JUPYTER_TOKEN_FILE"] = str(token_file)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        p for p in (str(folder), os.environ.get("JUPYTER_CONFIG_PATH", "")) if p
    )
    return env


def _process_table() -> dict[int, tuple[int, str]]:
    """Every process as pid -> (parent pid, start time), from /proc (empty elsewhere)."""
    table: dict[int, tuple[int, str]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue  # it ended meanwhile
            # The command name is in parentheses and may hold spaces: split after it.
            fields = stat[stat.rfind(")") + 2 :].split()
            table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def _descendants(pid: int) -> dict[int, str]:
    """The processes below ``pid`` (kernels, ...) as pid -> start time."""
    table = _process_table()
    found: dict[int, str] = {}
    parents = [pid]
    while parents:
        parent = parents.pop()
        for child, (ppid, started) in table.items():
            if ppid == parent and child not in found:
                found[child] = started
                parents.append(child)
    return found


def _still_running(pid: int, started: str) -> bool:
    """Whether ``pid`` is still the process that started at ``started`` (not a reused pid)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] == started and fields[0] != "Z"


def _wait_gone(pids: dict[int, str], deadline: float) -> dict[int, str]:
    while time.monotonic() < deadline:
        pids = {pid: t for pid, t in pids.items() if _still_running(pid, t)}
        if not pids:
            break
        time.sleep(0.05)
    return {pid: t for pid, t in pids.items() if _still_running(pid, t)}


def _stop_lab(proc: subprocess.Popen[Any]) -> None:
    """Stop JupyterLab and its kernels: SIGTERM, a deadline, then SIGKILL what is left."""
    # Noted before the stop: once JupyterLab exits, its kernels have another parent.
    below = _descendants(proc.pid)
    running = proc.poll() is None
    if running:
        print("stopping JupyterLab and its kernels ...", flush=True)
        # SIGTERM makes the server shut its kernels down; SIGINT would ask first.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its session: the whole group
            proc.wait(5)
    left = _wait_gone(below, time.monotonic() + 5)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in _wait_gone(left, time.monotonic() + 5):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if running:
        print("stopped", flush=True)


class _Stop(Exception):
    """A stop signal arrived (SIGTERM, SIGHUP; Ctrl-C is a KeyboardInterrupt)."""


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``_Stop``, so the cleanup runs as for Ctrl-C."""

    def stop(signum: int, frame: Any) -> None:
        raise _Stop(signal.Signals(signum).name)

    names = ("SIGTERM", "SIGHUP")
    previous = {
        getattr(signal, n): signal.signal(getattr(signal, n), stop)
        for n in names
        if hasattr(signal, n)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _no_interruptions() -> Iterator[None]:
    """Ignore Ctrl-C and stop signals: a second one must not cut the cleanup short."""
    signums = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s]
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve_lab(folder: Path, args: argparse.Namespace) -> int:
    """JupyterLab in ``folder`` on the quickstart, until Ctrl-C or SIGTERM; then stop it all."""
    jupyter = shutil.which("jupyter")
    if jupyter is None:
        print("error: JupyterLab is not installed: pip install 'ohws_jupyter[demo]'")
        return 2
    token = secrets.token_hex(16)
    port = args.port or _free_port(args.ip)
    page = f"/lab/tree/{QUICKSTART}"
    command = [
        jupyter,
        "lab",
        f"--ip={args.ip}",
        f"--port={port}",
        f"--ServerApp.root_dir={folder}",
        f"--LabApp.default_url={page}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        # A busy --port is an error, not a silent move to another port.
        "--ServerApp.port_retries=0",
    ]
    if args.no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    base = f"http://{args.ip}:{port}"
    with tempfile.TemporaryDirectory(prefix="ohws-demo-") as private, _stop_signals():
        env = _private_config(Path(private), token)
        log_path = Path(private) / "jupyterlab.log"
        proc: subprocess.Popen[Any] | None = None
        try:
            # Its own session: the terminal's Ctrl-C reaches the demo only, and
            # JupyterLab never asks "Shut down this Jupyter server (y/[n])?".
            # Its log (and its kernels') goes to a file, shown if it fails to start:
            # the rest is nothing a demo user can act on.
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    command,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if not _wait_ready(f"{base}/api/status?token={token}", proc):
                tail = log_path.read_text(errors="replace").splitlines()[-20:]
                print("\n".join(["error: JupyterLab did not start; its last messages:", *tail]))
                return 1
            print(
                f"\nohws_jupyter demo is running (Ctrl-C stops it)\n"
                f"  JupyterLab: {base}{page}?token={token}\n",
                flush=True,
            )
            code = proc.wait()
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            print("\n".join([f"JupyterLab ended by itself (status {code}):", *tail]))
            return 1 if code else 0
        except (KeyboardInterrupt, _Stop):
            return 0
        finally:
            if proc is not None:
                with _no_interruptions():
                    _stop_lab(proc)
