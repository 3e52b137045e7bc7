"""``python -m ohws_jupyter serve`` as a real subprocess on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ohws_jupyter import CloseResult, createWebSocket
from ohws_jupyter.cli.main import build_parser, main, serve_main
from tests.helpers import ROOT, Recorder, wait_until

TIMEOUT = 10


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "ohws_jupyter", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def serve(request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = _spawn(*getattr(request, "param", ()))
    try:
        # readline blocks until the first line; the process prints it as soon as it listens.
        url = proc.stdout.readline().strip() if proc.stdout else ""
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=TIMEOUT)


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT + 20)
    return proc.returncode, out, err


def test_serve_prints_url_echoes_and_stops_cleanly_on_sigint(
    serve: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = serve
    assert url.startswith("ws://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
    with connect(url, open_timeout=TIMEOUT) as theirs:
        theirs.send("hello")
        assert theirs.recv(TIMEOUT) == "hello"
        ws = createWebSocket()
        rec = Recorder(ws)
        ws.connect(url).result(TIMEOUT)
        ws.send(b"\x01\x02")
        rec.wait("message")
        assert rec.values("message") == [b"\x01\x02"]
        code, out, err = _stop(proc)
        with pytest.raises(ConnectionClosed) as closed:
            theirs.recv(TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    rec.wait("close")
    assert rec.values("close") == [CloseResult(1001, "server stopping")]
    assert code == 0, err
    assert out == ""  # the URL was the only line on stdout
    lines = err.splitlines()
    assert any("= connect 127.0.0.1:" in line for line in lines)
    assert any("text 5 chars: 'hello'" in line for line in lines)
    assert any("binary 2 bytes: 01 02" in line for line in lines)
    assert any("= stopped" in line for line in lines)
    assert all(line[:2].isdigit() and line[2] == ":" for line in lines)  # timestamps


@pytest.mark.parametrize("serve", [("--mode", "lab", "--port", "0")], indirect=True)
def test_serve_lab_mode(serve: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = serve
    with connect(url, open_timeout=TIMEOUT) as conn:
        conn.send("/bytes 3")
        assert conn.recv(TIMEOUT) == b"\x00\x01\x02"
        conn.send("/close 4001 kicked")
        with pytest.raises(ConnectionClosed) as closed:
            conn.recv(TIMEOUT)
    assert closed.value.rcvd.code == 4001 and closed.value.rcvd.reason == "kicked"
    code, _, err = _stop(proc)
    assert code == 0, err


def test_sigterm_stops_cleanly_too() -> None:
    proc = _spawn("--mode", "broadcast", "--quiet")
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        with connect(url, open_timeout=TIMEOUT) as conn:
            conn.send("room")
            assert conn.recv(TIMEOUT) == "room"
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                conn.recv(TIMEOUT)
        assert closed.value.rcvd.code == 1001
        _, err = proc.communicate(timeout=TIMEOUT + 20)
        assert proc.returncode == 0, err
        assert "room" not in err  # --quiet logs no messages
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIMEOUT)


@contextlib.contextmanager
def _spawn_and_url() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = _spawn()
    try:
        yield proc, (proc.stdout.readline().strip() if proc.stdout else "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIMEOUT)


def test_port_in_use_exits_with_a_message() -> None:
    with _spawn_and_url() as (first, url):
        port = url.rsplit(":", 1)[1]
        proc = _spawn("--port", port)
        out, err = proc.communicate(timeout=TIMEOUT + 20)
        assert proc.returncode == 2
        assert out == ""
        assert "Port already in use" in err and port in err
        _stop(first)


def test_parser_has_subcommands_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(["serve"])
    assert (args.host, args.port, args.mode) == ("127.0.0.1", 0, "echo")
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert "--mode {echo,broadcast,lab}" in text and "/noping" in text
    with pytest.raises(SystemExit) as bad:
        main(["serve", "--mode", "chaos"])
    assert bad.value.code == 2


def test_serve_errors_name_the_flags_not_the_api_fields(tmp_path: Path) -> None:
    missing = tmp_path / "no.pem"
    for args, expected in [
        (["--port", "70000"], "--port 70000 is out of range; use 1–65535, or 0 for a free port"),
        (["--host", "1.2.3"], "--host '1.2.3' is not an IP address; use '127.0.0.1'"),
        (["--max-clients", "0"], "--max-clients must be a whole number of at least 1, not 0"),
        (["--max-per-client", "0"], "--max-per-client must be a whole number of at least 1"),
        (["--cert", str(missing), "--key", str(missing)], f"--cert '{missing}' does not exist"),
        (["--cert", str(missing)], "error: --cert and --key go together; give both"),
        (["--protocol", "a b"], "--protocol 'a b' is not a valid subprotocol name"),
    ]:
        proc = _spawn(*args)
        out, err = proc.communicate(timeout=TIMEOUT + 20)
        assert proc.returncode == 2, (args, err)
        assert out == ""
        assert err.startswith("error: ") and expected in err, (args, err)
        for field in ("serverPort", "serverIP", "serverCert", "maxConcurrent", "maxConnections"):
            assert field not in err, (args, err)
    with _spawn_and_url() as (first, url):
        port = url.rsplit(":", 1)[1]
        proc = _spawn("--port", port)
        _, err = proc.communicate(timeout=TIMEOUT + 20)
        assert "use --port 0 for a free port" in err and "serverPort" not in err, err
        _stop(first)


def test_ohws_serve_help_names_itself(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        serve_main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: ohws-serve [-h]")
    assert "python -m ohws_jupyter" not in text
    with pytest.raises(SystemExit):
        serve_main(["--mode", "chaos"])
    assert capsys.readouterr().err.startswith("usage: ohws-serve")


@pytest.mark.parametrize("serve", [("--mode", "lab")], indirect=True)
def test_lab_bytes_limit_is_a_plain_number(serve: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = serve
    with connect(url, open_timeout=TIMEOUT) as conn:
        conn.send("/bytes 999999999")
        assert conn.recv(TIMEOUT) == "error: N must be from 0 to 67108864, not 999999999"
    code, _, err = _stop(proc)
    assert code == 0, err


# -- the demo ---------------------------------------------------------------------------------
DEMO_START = 90  # seconds JupyterLab may take to answer on a busy machine


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _tree(root: int) -> dict[int, str]:
    """The processes below ``root`` as pid -> start time (read from /proc)."""
    parents: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = (int(fields[1]), fields[19])
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        parent = todo.pop()
        for pid, (ppid, started) in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                todo.append(pid)
    return found


def _alive(processes: dict[int, str]) -> list[int]:
    """Those of ``processes`` that still run (same pid and start time, not a zombie)."""
    return [
        pid
        for pid, started in processes.items()
        if (fields := _stat(pid)) is not None and fields[19] == started and fields[0] != "Z"
    ]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _demo_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "HOME": str(home)}


def _lab_running(lines: list[str], url: str, tree_of: int) -> tuple[str, str, dict[int, str]]:
    """Check the running demo from outside; start a kernel; return base URL, token, processes."""
    import json
    import re
    import urllib.request

    match = re.search(r"(http://127\.0\.0\.1:\d+)/lab/tree/01-quickstart\.ipynb\?token=(\w+)", url)
    assert match, lines
    base, token = match.groups()
    before_kernel = _tree(tree_of)
    # The token is not on any command line (ps shows those to every user), nor in
    # an environment: JupyterLab reads it from a file only this user can read.
    assert before_kernel and all(token not in _cmdline(pid) for pid in before_kernel)
    lab = next(pid for pid in before_kernel if "jupyter-lab" in _cmdline(pid))
    environ = Path(f"/proc/{lab}/environ").read_bytes().decode(errors="replace").split("\0")
    token_file = Path(next(e for e in environ if e.startswith("JUPYTER_TOKEN_FILE=")).split("=")[1])
    assert token_file.read_text() == token and token_file.stat().st_mode & 0o077 == 0
    assert token_file.parent.stat().st_mode & 0o077 == 0
    assert not any(token in e for e in environ)
    headers = {"Authorization": f"token {token}"}
    settings_url = f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification"
    with urllib.request.urlopen(urllib.request.Request(settings_url, headers=headers)) as r:
        schema = json.load(r)["schema"]["properties"]
    # No toast asking to fetch Jupyter news, no update check.
    assert schema["fetchNews"]["default"] == "false"
    assert schema["checkForUpdates"]["default"] is False
    start = urllib.request.Request(
        f"{base}/api/kernels", data=b'{"name": "python3"}', headers=headers, method="POST"
    )
    with urllib.request.urlopen(start) as r:
        assert r.status == 201
    wait_until(
        lambda: any("ipykernel" in _cmdline(pid) for pid in _tree(tree_of)), 60, "the kernel"
    )
    return base, token, _tree(tree_of)


def test_demo_sigterm_stops_jupyterlab_and_its_kernels(tmp_path: Path) -> None:
    import queue
    import threading

    work = tmp_path / "work"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ohws_jupyter", "demo", "--no-browser", "--dir", str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_demo_env(tmp_path),
        cwd=tmp_path,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or ()], daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        while not any("JupyterLab: http" in line for line in seen):
            seen.append(lines.get(timeout=DEMO_START))
        _, _, processes = _lab_running(seen, seen[-1], proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    reader.join(10)
    while not lines.empty():
        seen.append(lines.get())
    wait_until(lambda: not _alive(processes), 10, "JupyterLab and its kernels to end")
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing is left in the demo's process group either
    out = "".join(seen)
    assert "stopping JupyterLab and its kernels ..." in out and out.rstrip().endswith("stopped")
    # It ran on a working copy, never on the notebooks it ships.
    assert f"working folder: {work}" in out
    assert (work / "01-quickstart.ipynb").is_file() and (work / "certs").is_dir()
    for noise in ("Traceback", "Shut down this Jupyter server", "deprecated", "[C ", "[W "):
        assert noise not in out, out


def test_demo_ctrl_c_in_a_terminal_stops_everything_without_a_prompt(tmp_path: Path) -> None:
    """Ctrl-C typed in a real terminal (tmux): no y/[n] prompt, nothing left running."""
    tmux, bash = shutil.which("tmux"), shutil.which("bash")
    if tmux is None or bash is None:
        pytest.skip("needs tmux and bash for a real terminal")
    conf = tmp_path / "tmux.conf"
    conf.write_text("set -g remain-on-exit on\n")  # keep the pane to read after the end
    env = _demo_env(tmp_path)
    command = [tmux, "-L", f"ohws-test-{os.getpid()}", "-f", str(conf)]

    def run(*args: str) -> str:
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, check=True, timeout=10, env=env
        ).stdout

    # bash reports the demo's exit status on the screen: tmux itself sometimes
    # leaves an ended pane unreaped, without a status.
    work = shlex.quote(str(tmp_path / "work"))
    demo = f"{shlex.quote(sys.executable)} -m ohws_jupyter demo --no-browser --dir {work}"
    run("new-session", "-d", "-s", "demo", "-x", "200", "-y", "50", "-c", str(tmp_path),
        bash, "-c", f'{demo}; echo "demo exit status $?"')  # fmt: skip
    try:
        pane_pid = int(run("list-panes", "-t", "demo", "-F", "#{pane_pid}").strip())
        screen = ""
        deadline = time.monotonic() + DEMO_START
        while "JupyterLab: http" not in screen:
            assert time.monotonic() < deadline, screen
            time.sleep(0.2)
            screen = run("capture-pane", "-p", "-J", "-t", "demo")
        url = next(line for line in screen.splitlines() if "JupyterLab: http" in line)
        _, _, processes = _lab_running(screen.splitlines(), url, pane_pid)
        run("send-keys", "-t", "demo", "C-c")
        deadline = time.monotonic() + 60
        while "demo exit status" not in screen:
            assert time.monotonic() < deadline, screen
            time.sleep(0.2)
            screen = run("capture-pane", "-p", "-J", "-t", "demo")
    finally:
        subprocess.run([*command, "kill-server"], capture_output=True, timeout=10)
    assert "demo exit status 0" in screen, screen  # exited by itself, not killed by SIGINT
    assert "Shut down this Jupyter server" not in screen, screen
    assert "Traceback" not in screen and "stopping JupyterLab and its kernels ..." in screen
    wait_until(lambda: not _alive(processes), 10, "JupyterLab and its kernels to end")
