"""Memory: many small messages through a panel, many connections in one process.

Run in a child process (``python -m benchmarks.memory JSON``); prints one JSON line.

* ``flood``: a client with a ``WebSocketPanel`` attached (outside a kernel its
  comm goes nowhere, but the panel does all its work) receives ``count`` small
  messages as fast as the peer sends them; RSS before connecting and after.
* ``connections``: open ``count`` connections at once to one server; the time
  until all are open and the RSS they cost.
* ``big``: a client receives ``count`` messages of ``size`` bytes (100 x 1 MiB),
  with a ``WebSocketPanel`` attached or not; the RSS they leave behind and the
  peak (``VmHWM``), against the panel's budget of whole messages
  (``panel_model.FULL_BUDGET``, 32 MiB). With ``trace``, the 10 places that
  hold the most memory at the end (``tracemalloc``), to find what holds bodies.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
from typing import Any

__all__ = ["big", "connections", "flood", "rss_mb"]


def rss_mb(field: str = "VmRSS") -> float:
    """Resident set size of this process in MB, or its peak (``VmHWM``); Linux ``/proc``."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def big(url: str, count: int, panel: bool, trace: bool = False) -> dict[str, Any]:
    import tracemalloc

    from ohws_jupyter import createWebSocket
    from ohws_jupyter.jupyter.panel import WebSocketPanel
    from ohws_jupyter.jupyter.panel_model import FULL_BUDGET

    ws = createWebSocket()
    watcher = WebSocketPanel(ws) if panel else None
    closed = threading.Event()
    reasons: list[str] = []
    ws.on("close", lambda result: (reasons.append(result.reason), closed.set()))
    gc.collect()
    if trace:
        tracemalloc.start()
    before = rss_mb()
    _reset_peak()
    ws.connect(url, {"compression": False}).result(10)
    if not closed.wait(600):
        raise RuntimeError("big: the peer did not finish within 600 s")
    time.sleep(0.5)  # let the panel's last flush run
    gc.collect()
    after, peak = rss_mb(), rss_mb("VmHWM")
    if reasons != [f"sent {count}"] or ws.stats.messagesIn != count:
        raise RuntimeError(f"big: {ws.stats.messagesIn} of {count} {reasons}")
    out: dict[str, Any] = {
        "count": count,
        "bytes_in": ws.stats.bytesIn,
        "panel": panel,
        "budget_mb": FULL_BUDGET / 2**20,
        "rss_before_mb": before,
        "rss_growth_mb": after - before,
        "rss_peak_growth_mb": peak - before,
    }
    if trace:
        top = tracemalloc.take_snapshot().statistics("lineno")[:10]
        out["top"] = [f"{stat.size / 2**20:.1f} MiB {stat.traceback[0]}" for stat in top]
    if watcher is not None:
        out["panel_entries"] = len(watcher.entries)
        watcher.close()
    return out


def flood(url: str, count: int) -> dict[str, Any]:
    from ohws_jupyter import createWebSocket
    from ohws_jupyter.jupyter.panel import WebSocketPanel

    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    got = [0]
    closed = threading.Event()
    reasons: list[str] = []
    ws.on("message", lambda _v: got.__setitem__(0, got[0] + 1))
    ws.on("close", lambda result: (reasons.append(result.reason), closed.set()))
    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    ws.connect(url, {"compression": False}).result(10)
    if not closed.wait(600):
        raise RuntimeError("flood: the peer did not finish within 600 s")
    seconds = time.perf_counter() - start
    time.sleep(0.3)  # let the panel's last flush run
    gc.collect()
    after = rss_mb()
    if reasons != [f"sent {count}"] or got[0] != count or ws.stats.messagesIn != count:
        raise RuntimeError(f"flood: counted {got[0]}/{ws.stats.messagesIn} of {count} {reasons}")
    return {
        "count": count,
        "seconds": seconds,
        "msgs_per_s": count / seconds,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "rss_growth_mb": after - before,
        "panel_seq": panel._seq,
        "panel_dropped": panel.dropped,
    }


def connections(url: str, count: int) -> dict[str, Any]:
    from ohws_jupyter import createWebSocket

    first = createWebSocket()  # start the runtime's threads outside the measurement
    first.connect(url, {"compression": False}).result(10)
    first.close().result(10)
    gc.collect()
    before = rss_mb()
    sockets = [createWebSocket() for _ in range(count)]
    start = time.perf_counter()
    promises = [ws.connect(url, {"compression": False}) for ws in sockets]
    for p in promises:
        p.result(120)
    seconds = time.perf_counter() - start
    gc.collect()
    after = rss_mb()
    opened = sum(ws.readyState == 1 for ws in sockets)
    closing = [ws.close() for ws in sockets]
    for p in closing:
        p.result(120)
    if opened != count:
        raise RuntimeError(f"connections: {opened} of {count} open")
    return {
        "count": count,
        "seconds_to_open_all": seconds,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "kb_per_connection": (after - before) * 1024 / count,
    }


def main() -> int:
    spec = json.loads(sys.argv[1])
    kind = spec.pop("kind")
    kinds = {"flood": flood, "connections": connections, "big": big}
    print(json.dumps(kinds[kind](**spec)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
