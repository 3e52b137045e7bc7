"""The benchmarks still run, and their targets table judges what it is given.

``python -m benchmarks --quick`` runs once against real servers on 127.0.0.1
(the Node.js ``ws`` peer, our embedded server, a plain ``websockets`` server)
and a real kernel. Not a timed test: it checks that every section produced
figures and that every target got a verdict, nothing about how fast. The other
tests feed the targets table and the profile summary hand-made figures.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from benchmarks.peers import start_peer
from benchmarks.profile import render, self_time
from benchmarks.run import (
    MIB,
    TARGETS,
    answers_handshake,
    evaluate_targets,
    readme_figures,
    with_readme_figures,
)
from benchmarks.workloads import CLIENTS
from tests.helpers import ROOT

SIZES = ("64", "4096", str(MIB))


def _need_node() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are required in CI (.ci/run installs them)")
        pytest.skip("node/npm are not installed: the Node.js ws peer cannot run")


@pytest.mark.timeout(240)
def test_quick_run_produces_every_figure(tmp_path):
    _need_node()
    latest = (ROOT / "benchmarks" / "LATEST.md").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    titles = (
        "Targets",
        "Echo throughput",
        "Echo servers",
        "Round trip",
        "4K rule",
    )
    for title in (*titles, "Memory", "Panel flood"):
        assert title in proc.stdout, title
    # A quick run never replaces the full run's table.
    assert (ROOT / "benchmarks" / "LATEST.md").read_bytes() == latest
    (path,) = tmp_path.glob("bench-quick-*.json")
    results = json.loads(path.read_text())

    echo = results["echo"]
    assert echo["failures"] == [] and results["restarts"] == []
    summary = echo["summary"]
    assert set(summary) == {"node", "embedded", "websockets"}
    assert set(summary["websockets"]) == {"picows"}
    for server in ("node", "embedded"):
        assert set(summary[server]) == set(CLIENTS)
        for figures in summary[server].values():
            for size in SIZES:
                assert figures[size]["msgs_per_s"]["median"] > 0
            assert 0 < figures["rtt"]["p50_us"]["median"] <= figures["rtt"]["p99_us"]["median"]
    for size in SIZES:
        assert summary["websockets"]["picows"][size]["msgs_per_s"]["median"] > 0

    targets = echo["targets"]
    assert len(targets) == sum(len(t.servers) for t in TARGETS)
    assert all(row["met"] in (True, False) and row["rounds"] == 1 for row in targets)
    assert results["machine"]["ws"].startswith("8.")
    assert results["machine"]["picows"] != "not installed"

    for mode in ("pieces", "whole"):
        assert results["4k"]["summary"][mode]["mb_per_s"]["median"] > 0
    assert results["4k"]["summary"]["pieces"]["pieces_per_msg"] == 256
    assert results["memory"]["rss_after_mb"] > 0
    assert results["memory"]["big"]["panel_rss_growth_mb"] > 0
    assert results["connections"]["kb_per_connection"] > 0
    flood = results["flood"]
    assert flood["counters_exact"], flood["counters"]
    assert flood["widget_msgs_per_s"] > 0 and flood["execute_requests"] > 0


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that reads everything and never answers (a hung server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.setblocking(False)
            conns.append(conn)
            while not stop.is_set():
                try:
                    if conn.recv(65536) == b"":
                        break
                except BlockingIOError:
                    stop.wait(0.05)
                except OSError:
                    break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in conns:
            conn.close()
        listener.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_a_client_stuck_on_a_hung_server_ends_with_one_line(client, silent_server):
    spec = {
        "kind": "echo",
        "client": client,
        "url": silent_server,
        "size": 64,
        "count": 10,
        "stall_after": 1.0,
    }
    # It gives up after its stall_after, not never: a hang ends in TimeoutExpired.
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.workloads", json.dumps([spec])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"{client}, 10 × 64 B: no echo for 1 s (0 echoed so far)"
    )


def test_a_hung_server_is_told_from_a_live_one(silent_server):
    assert answers_handshake(silent_server, timeout=1.0) is False
    with start_peer("echo", lifetime=60) as peer:
        assert answers_handshake(peer.url) is True


def _echo(size: str, per_s: float) -> dict:
    size_b = int(size)
    return {"size": size_b, "msgs_per_s": per_s, "mb_per_s": per_s * size_b / 1e6}


def _samples(rates: dict[str, list], rtt: dict[str, list]) -> dict:
    """Per-round figures: ``rates[client]`` gives msgs/s per round at every size."""
    by_client = {
        client: {
            **{size: [None if r is None else _echo(size, r) for r in rounds] for size in SIZES},
            "rtt": [{"p50_us": v, "p99_us": v * 2} for v in rtt[client]],
        }
        for client, rounds in rates.items()
    }
    return {"node": by_client, "embedded": by_client}


def _row(rows: list[dict], label_start: str, server: str = "node") -> dict:
    (row,) = [r for r in rows if r["target"].startswith(label_start) and r["server"] == server]
    return row


def test_targets_are_judged_on_per_round_ratios():
    rates = {
        # Round 2 failed for raw: that round drops out of every ratio with raw.
        "raw": [1000, None, 1000],
        "ours-callback": [2000, 5000, 1990],
        "ours-await": [800, 900, 790],
        "wsclient": [2000, 2000, 2000],
        "picows": [2200, 2200, 2200],
    }
    rtt = {
        "raw": [100, 100, 100],
        "ours-callback": [150, 190, 160],
        "ours-await": [170, 170, 170],
        "wsclient": [90, 90, 90],
        "picows": [80, 80, 80],
    }
    samples = _samples(rates, rtt)
    samples["websockets"] = {"picows": {s: [_echo(s, 100)] * 3 for s in SIZES}}
    samples["embedded"] = {**samples["embedded"], "picows": {s: [_echo(s, 150)] * 3 for s in SIZES}}
    rows = evaluate_targets(samples)

    row = _row(rows, "64 B pipelined, callback form / raw")
    assert row["rounds"] == 2 and row["value"] == pytest.approx(1.995)
    assert row["met"] is False and row["gap"] == pytest.approx(-0.005)
    assert (row["min"], row["max"]) == (pytest.approx(1.99), pytest.approx(2.0))

    row = _row(rows, "64 B pipelined, await form / raw")
    assert row["value"] == pytest.approx(0.795) and row["met"] is False

    # "Ahead of websocket-client" is strict: a tie is a miss.
    row = _row(rows, "64 B, callback form / websocket-client")
    assert row["value"] == pytest.approx(1.0) and row["met"] is False

    row = _row(rows, "64 B round trip p50, callback form")
    assert row["value"] == 60 and row["met"] is True  # median of +50, +90, +60
    row = _row(rows, "64 B round trip p50, await form")
    assert row["value"] == 70 and row["met"] is False and row["gap"] == 10

    row = _row(rows, "64 B echo, embedded server / plain", server="—")
    assert row["value"] == pytest.approx(1.5) and row["met"] is True


def test_a_target_without_figures_has_no_verdict():
    rates = {client: [None, None] for client in CLIENTS}
    rows = evaluate_targets(_samples(rates, {client: [] for client in CLIENTS}))
    assert len(rows) == sum(len(t.servers) for t in TARGETS)
    assert all(r["value"] is None and r["met"] is None and r["rounds"] == 0 for r in rows)


def test_profile_summary_counts_self_time_per_function_and_thread():
    frames = [
        {"name": "<module>", "file": "/x/benchmarks/workloads.py", "line": 1},
        {"name": "WebSocket.send", "file": "/x/ohws_jupyter/client/websocket.py", "line": 350},
        {"name": "Connection.send", "file": "/x/ohws_jupyter/engine/connection.py", "line": 429},
        {"name": "Frame.serialize", "file": "/y/site-packages/websockets/frames.py", "line": 9},
        {"name": "_call_with_frames_removed", "file": "<frozen importlib._bootstrap>", "line": 2},
    ]
    speedscope = {
        "shared": {"frames": frames},
        "profiles": [
            {
                "name": 'Thread 1 "MainThread"',
                "samples": [[0, 1, 2], [0, 1, 2], [0, 1, 2, 3], [0, 4, 1]],
                "weights": [0.001, 0.001, 0.001, 0.001],
            },
            {"name": 'Thread 2 "ohws-io"', "samples": [[2]], "weights": [0.002]},
        ],
    }
    summary = self_time(speedscope)
    assert summary["samples"] == pytest.approx(0.005)  # the import sample is left out
    assert dict(summary["self_ours"]) == {
        "ohws_jupyter/engine/connection.py:Connection.send": pytest.approx(0.004)
    }
    assert dict(summary["self_all"])["websockets/frames.py:Frame.serialize"] == 0.001
    assert dict(summary["total_ours"])["ohws_jupyter/client/websocket.py:WebSocket.send"] == 0.003
    text = render(summary, top=5)
    assert "| 1 | `ohws_jupyter/engine/connection.py:Connection.send` | 4 | 80.0% |" in text


def test_the_readmes_figures_are_those_of_latest_md():
    """The README's block of figures is made from benchmarks/LATEST.md, not copied by hand."""
    readme = (ROOT / "README.md").read_text()
    latest = (ROOT / "benchmarks" / "LATEST.md").read_text()
    assert with_readme_figures(readme, latest) == readme
    block = readme_figures(latest)
    assert block.startswith("Run ") and "**Targets" in block and "**Echo throughput" in block
    for line in block.splitlines():
        if line.startswith("|"):
            assert line in latest
