"""The benchmarks still run: ``python -m benchmarks --quick`` once, figures sane.

Not a timed test: it checks that every section produced non-zero figures and
that the panel flood counted exactly, nothing about how fast.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parent.parent


@pytest.mark.timeout(300)
def test_quick_run_produces_every_figure(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Echo throughput" in proc.stdout and "Panel flood" in proc.stdout
    (path,) = tmp_path.glob("bench-quick-*.json")
    results = json.loads(path.read_text())

    summary = results["echo"]["summary"]
    assert set(summary) == {"websockets", "embedded"}
    for by_client in summary.values():
        assert set(by_client) == {"ours-callback", "ours-await", "raw", "wsclient"}
        for figures in by_client.values():
            for size in ("64", "4096", str(1024 * 1024)):
                assert figures[size]["msgs_per_s"]["median"] > 0
            assert 0 < figures["rtt"]["p50_us"]["median"] <= figures["rtt"]["p99_us"]["median"]
    for mode in ("pieces", "whole"):
        assert results["4k"]["summary"][mode]["mb_per_s"]["median"] > 0
    assert results["4k"]["summary"]["pieces"]["pieces_per_msg"] == 256
    assert results["memory"]["rss_after_mb"] > 0
    assert results["connections"]["kb_per_connection"] > 0
    flood = results["flood"]
    assert flood["counters_exact"], flood["counters"]
    assert flood["widget_msgs_per_s"] > 0 and flood["execute_requests"] > 0
