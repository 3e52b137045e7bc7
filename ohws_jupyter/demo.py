"""``python -m ohws_jupyter demo``: the embedded server plus JupyterLab on the quickstart.

The demo starts a ``lab``-mode embedded server for the user's own experiments,
then JupyterLab on 127.0.0.1 with a fresh token, opened on
``notebooks/01-quickstart.ipynb``. ``--no-browser`` prints the URL (with its
token) instead of opening a browser; ``--check`` runs the notebooks headless on
a real kernel and exits 0 if every cell ran, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

__all__ = ["QUICKSTART", "add_arguments", "find_notebooks", "run"]

#: The notebook the demo opens and ``--check`` runs first.
QUICKSTART = "01-quickstart.ipynb"


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
        "--notebooks", type=Path, default=None, help="the notebooks folder (default: found)"
    )
    parser.add_argument("--timeout", type=float, default=120, help="seconds per notebook cell")


def find_notebooks(explicit: Path | None = None) -> Path:
    """The folder holding the demo notebooks: given, in the checkout, or in the cwd."""
    candidates = [explicit] if explicit else []
    candidates += [Path(__file__).resolve().parent.parent / "notebooks", Path.cwd() / "notebooks"]
    for folder in candidates:
        if folder is not None and (folder / QUICKSTART).is_file():
            return folder
    raise SystemExit(
        "error: cannot find notebooks/01-quickstart.ipynb; run from a checkout or pass --notebooks"
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo as the options say; returns the exit status."""
    folder = find_notebooks(args.notebooks)
    if args.check:
        names = sorted(p.name for p in folder.glob("*.ipynb")) if args.all else [QUICKSTART]
        return check(folder, names, args.timeout)
    return serve_lab(folder, args)


def check(folder: Path, names: list[str], timeout: float) -> int:
    """Execute notebooks top to bottom on a real kernel; 0 if all ran."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    failed = 0
    for name in names:
        nb = nbformat.read(folder / name, as_version=4)
        start = time.monotonic()
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=timeout,
            resources={"metadata": {"path": str(folder)}},
        )
        try:
            client.execute()
        except CellExecutionError as exc:
            failed += 1
            lines = str(exc).strip().splitlines()
            print(f"FAIL {name}: {lines[-1] if lines else exc}", flush=True)
            continue
        except Exception as exc:  # a cell timed out, the kernel died, ...
            failed += 1
            print(f"FAIL {name}: {type(exc).__name__}: {str(exc).splitlines()[0]}", flush=True)
            continue
        print(f"ok   {name} ({time.monotonic() - start:.1f} s)", flush=True)
    print(f"{len(names) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> bool:
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


def serve_lab(folder: Path, args: argparse.Namespace) -> int:
    """Start the lab-mode server and JupyterLab; run until Ctrl-C."""
    from .server import createWebSocketServer

    jupyter = shutil.which("jupyter")
    if jupyter is None:
        print("error: JupyterLab is not installed: pip install 'ohws_jupyter[demo]'")
        return 2
    server = createWebSocketServer()
    server.start({"serverPort": 0, "mode": "lab"}).result(30)
    token = secrets.token_hex(16)
    port = args.port or _free_port(args.ip)
    root = folder.parent
    command = [
        jupyter,
        "lab",
        f"--ip={args.ip}",
        f"--port={port}",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.default_url=/lab/tree/{folder.name}/{QUICKSTART}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if args.no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    env = dict(os.environ, OHWS_DEMO_URL=server.url or "")
    proc = subprocess.Popen(command, env=env)
    base = f"http://{args.ip}:{port}"
    try:
        if not _wait_ready(f"{base}/api/status?token={token}", proc):
            print("error: JupyterLab did not start; see its messages above", flush=True)
            return 1
        print(
            f"\nohws_jupyter demo is running (Ctrl-C stops it)\n"
            f"  JupyterLab: {base}/lab/tree/{folder.name}/{QUICKSTART}?token={token}\n"
            f"  lab-mode WebSocket server for your own tries: {server.url}\n",
            flush=True,
        )
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # SIGINT would ask "Shutdown?" on a terminal
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.stop().result(15)
        sys.stdout.flush()
