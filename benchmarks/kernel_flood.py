"""The panel flood: a live panel in a real kernel while a peer floods it.

A peer process sends ``rate`` messages a second for ``seconds`` seconds to a
``WebSocket`` with a ``WebSocketPanel`` in a real IPython kernel. Meanwhile
this process reads the kernel's iopub channel (the widget messages the browser
would get; counted while the flood lasts, from the connection's open to its
close, with the busiest second of it) and sends an ``execute_request`` every
0.25 s, timing each reply. Afterwards it checks that every counter saw exactly the messages sent.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

from .peers import start_peer

__all__ = ["panel_flood"]

_SETUP = """
import threading, time
from IPython.display import display
from ohws_jupyter import createWebSocket
from ohws_jupyter.jupyter.panel import WebSocketPanel

def _bench_rss_mb():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS:')) / 1024

_bench = {'message': 0, 'dataEnd': 0, 'closed': threading.Event(), 'reason': None}
_ws = createWebSocket()
_panel = WebSocketPanel(_ws)
display(_panel)
def _on_message(value):
    _bench['message'] += 1
def _on_end():
    _bench['dataEnd'] += 1
def _on_close(result):
    _bench['reason'] = result.reason
    _bench['closed'].set()
_ws.on('message', _on_message)
_ws.on('dataEnd', _on_end)
_ws.on('close', _on_close)
_bench['rss_before'] = _bench_rss_mb()
"""

_CONNECT = "_ws.connect({url!r}, {{'compression': False}})"

_REPORT = """
import json
_bench['closed'].wait({timeout})
time.sleep(0.3)
print(json.dumps({{
    'messagesIn': _ws.stats.messagesIn,
    'message': _bench['message'],
    'dataEnd': _bench['dataEnd'],
    'panelSeq': _panel._seq,
    'reason': _bench['reason'],
    'openedAt': _ws.stats.openedAt,
    'closedAt': _ws.stats.closedAt,
    'rss_before': _bench['rss_before'],
    'rss_after': _bench_rss_mb(),
}}))
"""


def _run(kc: Any, code: str, timeout: float = 60.0) -> str:
    """Execute ``code``; return its stdout (iopub must not be read elsewhere)."""
    msg_id = kc.execute(code)
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise RuntimeError("kernel: " + "\n".join(msg["content"]["traceback"]))
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out)
    raise TimeoutError(f"kernel did not finish {code[:40]!r}")


def panel_flood(rate: int, seconds: float) -> dict[str, Any]:
    """Flood a panel in a fresh kernel; the figures as a dict."""
    from jupyter_client.manager import start_new_kernel

    count = int(rate * seconds)
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        flood = ("--count", str(count), "--rate", str(rate), "--size", "32")
        with start_peer("flood", *flood) as peer:
            _run(kc, _SETUP)
            comm_times: queue.SimpleQueue[float] = queue.SimpleQueue()
            stop = threading.Event()
            kc.execute(_CONNECT.format(url=peer.url))

            def read_iopub() -> None:
                # Count widget messages (custom comm messages and trait syncs).
                while not stop.is_set():
                    try:
                        msg = kc.get_iopub_msg(timeout=0.2)
                    except queue.Empty:
                        continue
                    if msg["msg_type"] == "comm_msg":
                        # Wall-clock time, as the kernel's openedAt/closedAt are.
                        comm_times.put(time.time())

            reader = threading.Thread(target=read_iopub, daemon=True)
            reader.start()
            latencies = []
            start = time.monotonic()
            while time.monotonic() - start < seconds:
                t0 = time.perf_counter()
                msg_id = kc.execute("pass", silent=True)
                while True:
                    reply = kc.get_shell_msg(timeout=30)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        break
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.25)
            stop.set()
            reader.join(5)
            report = json.loads(_run(kc, _REPORT.format(timeout=seconds * 3 + 30)).strip())
        widget_msgs = []
        while not comm_times.empty():
            widget_msgs.append(comm_times.get())
        opened, closed = report["openedAt"], report["closedAt"]
        flood_seconds = closed - opened
        during = sorted(t for t in widget_msgs if opened <= t <= closed)
        busiest = max(
            (sum(1 for u in during[i:] if u < t + 1.0) for i, t in enumerate(during)), default=0
        )
        exact = (
            report["messagesIn"] == report["message"] == report["dataEnd"] == count
            and report["reason"] == f"sent {count}"
        )
        lat = sorted(latencies)
        return {
            "rate_asked": rate,
            "count": count,
            "msgs_in_per_s": count / flood_seconds,
            "widget_msgs_per_s": len(during) / flood_seconds,
            "widget_msgs_busiest_second": busiest,
            "widget_msgs_outside_flood": len(widget_msgs) - len(during),
            "counters_exact": exact,
            "counters": {k: report[k] for k in ("messagesIn", "message", "dataEnd", "panelSeq")},
            "execute_reply_p50_ms": lat[len(lat) // 2] * 1e3,
            "execute_reply_max_ms": lat[-1] * 1e3,
            "execute_requests": len(lat),
            "kernel_rss_before_mb": report["rss_before"],
            "kernel_rss_after_mb": report["rss_after"],
        }
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    import sys

    print(json.dumps(panel_flood(int(sys.argv[1]), float(sys.argv[2]))))
