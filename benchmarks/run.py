"""``python -m benchmarks``: every benchmark, side by side in one run.

1. Echo throughput (64 B and 4 KiB: messages/s; 1 MiB: MB/s), messages
   pipelined, for five clients — ours in callback form and in ``await`` form,
   the raw ``websockets`` asyncio client, ``websocket-client`` and ``picows`` —
   against two echo servers: a Node.js ``ws`` server (fast enough that the
   client is what is measured) and our embedded server.
2. Round trip of 64-byte messages, one in flight: p50 and p99, same clients
   and servers.
3. Our embedded server against a plain ``websockets`` server: echo throughput
   with the same load client (``picows``, the fastest client; its figure
   against the Node.js server is the ceiling it could reach).
4. The 4K rule: 1 MiB echoes through our callback form, in 4 KiB pieces vs
   whole messages.
5. Memory: many small messages with a panel attached; many connections.
6. The panel flood in a real kernel.

Every measurement runs in a fresh child process and every server in a process
of its own. Rounds interleave: each round measures every client once, the
clients' order turning from round to round, so a change of machine load hits
all of them alike. Each figure is the median of the rounds with their range;
a ratio is the median of the per-round ratios of two clients measured in the
same round. The targets table marks each speed target met or missed.
Results go to ``benchmarks/results/*.json``; a full run also rewrites
``benchmarks/LATEST.md``. A measurement that fails is recorded as failed (the
server it used is restarted) and the run goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .peers import Peer, node_versions, start_embedded_echo, start_node_echo, start_peer
from .workloads import CLIENTS

__all__ = [
    "FULL",
    "QUICK",
    "TARGETS",
    "Plan",
    "Target",
    "evaluate_targets",
    "main",
    "readme_figures",
    "with_readme_figures",
]

HERE = pathlib.Path(__file__).parent
MIB = 1024 * 1024
#: Echo servers the clients run against, and the one the embedded server is compared with.
CLIENT_SERVERS = ("node", "embedded")
SERVER_NAMES = {
    "node": "Node.js ws",
    "embedded": "embedded (ours)",
    "websockets": "plain websockets",
}
#: The load client of the server comparison.
LOAD_CLIENT = "picows"


def _size_name(size: int) -> str:
    return "1 MiB" if size == MIB else ("4 KiB" if size == 4096 else f"{size} B")


@dataclass(frozen=True)
class Plan:
    """How big each benchmark is."""

    repeats: int
    sizes: tuple[tuple[int, int], ...]  # (bytes, messages)
    rtt_samples: int
    flood_rate: int
    flood_seconds: float
    memory_messages: int
    connections: int
    #: One child process per size (full runs), or one per client and server
    #: holding every size (quick runs: fewer process starts).
    process_per_size: bool = True
    child_timeout: float = 60.0


FULL = Plan(
    repeats=5,
    sizes=((64, 50_000), (4096, 20_000), (MIB, 200)),
    rtt_samples=2000,
    flood_rate=20_000,
    flood_seconds=10.0,
    memory_messages=1_000_000,
    connections=1000,
)
QUICK = Plan(
    repeats=1,
    sizes=((64, 5000), (4096, 1000), (MIB, 8)),
    rtt_samples=100,
    flood_rate=1000,
    flood_seconds=1.0,
    memory_messages=5000,
    connections=20,
    process_per_size=False,
    child_timeout=120.0,
)
SECTIONS = ("echo", "4k", "memory", "connections", "flood")


# -- child processes and servers ---------------------------------------------------
class ChildFailed(RuntimeError):
    """A measurement's child process failed or ran out of time."""


def _child(module: str, spec: Any, timeout: float = 900.0) -> Any:
    """Run ``python -m benchmarks.MODULE JSON`` and return its JSON answer."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{module}", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=HERE.parent,
        )
    except subprocess.TimeoutExpired as exc:
        raise ChildFailed(f"benchmarks.{module} did not finish within {timeout:g} s") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ChildFailed(f"benchmarks.{module} failed: {last}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Servers:
    """The echo servers of a run, each restartable after a failed measurement."""

    STARTERS: ClassVar[dict[str, Callable[[], Peer]]] = {
        "node": start_node_echo,
        "embedded": start_embedded_echo,
        "websockets": lambda: start_peer("echo"),
    }

    def __init__(self, names: Sequence[str]) -> None:
        self.peers: dict[str, Peer] = {}
        self.restarts: list[dict[str, str]] = []
        try:
            for name in names:
                self.peers[name] = self.STARTERS[name]()
        except BaseException:
            self.stop()
            raise

    def url(self, name: str) -> str:
        return self.peers[name].url

    def restart(self, name: str, why: str) -> None:
        self.peers[name].stop()
        self.peers[name] = self.STARTERS[name]()
        self.restarts.append({"server": name, "after": why.splitlines()[0][:300]})

    def stop(self) -> None:
        for peer in self.peers.values():
            peer.stop()


def answers_handshake(url: str, timeout: float = 5.0) -> bool:
    """Whether the server at ``url`` still completes an opening handshake."""
    from websockets.sync.client import connect

    try:
        with connect(url, open_timeout=timeout, close_timeout=1):
            return True
    except Exception:
        return False


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _rotate(items: Sequence[str], by: int) -> list[str]:
    by %= len(items)
    return [*items[by:], *items[:by]]


# -- 1-3: echo throughput, round trips, the server comparison -------------------------
def _echo_cells() -> list[tuple[str, str]]:
    """(server, client) pairs measured every round."""
    cells = [(server, client) for server in CLIENT_SERVERS for client in CLIENTS]
    return [*cells, ("websockets", LOAD_CLIENT)]


def run_echo(plan: Plan, servers: Servers, log: Callable[[str], None]) -> dict:
    """Throughput and RTT of every client against every server, rounds interleaved.

    ``samples[server][client][size or "rtt"]`` is the list of per-round results,
    ``None`` where that round's measurement failed.
    """
    samples: dict[str, dict[str, dict[str, list]]] = {}
    failures: list[dict[str, Any]] = []
    sizes = [str(size) for size, _ in plan.sizes]

    def record(server: str, client: str, key: str, result: Any) -> None:
        cell = samples.setdefault(server, {}).setdefault(client, {})
        cell.setdefault(key, []).append(result)

    def measure(server: str, client: str, specs: list[dict], keys: list[str], r: int) -> None:
        for spec in specs:
            spec.update(client=client, url=servers.url(server))
        try:
            out = _child("workloads", specs, plan.child_timeout)
        except ChildFailed as exc:
            why = str(exc)
            # Tell a server that hangs or died from a client that fails on its own.
            health = servers.peers[server].health()
            answered = health["running"] and answers_handshake(servers.url(server))
            failures.append(
                {
                    "round": r + 1,
                    "server": server,
                    "client": client,
                    "what": keys,
                    "error": why[-3000:],
                    "server_answered_after": answered,
                    "server_health": health,
                }
            )
            log(
                f"    FAILED {server} {client} {keys}: {why.splitlines()[0]}"
                f"{_server_state(failures[-1])}"
            )
            for key in keys:
                record(server, client, key, None)
            servers.restart(server, why)
            return
        for key, res in zip(keys, out, strict=True):
            record(server, client, key, res)

    for r in range(plan.repeats):
        cells = _echo_cells()
        # Turn the order every round: no client always runs first or last.
        order = [cells[(i + r * 3) % len(cells)] for i in range(len(cells))]
        if plan.process_per_size:
            for size, count in plan.sizes:
                log(f"  round {r + 1}/{plan.repeats}: echo {_size_name(size)}")
                for server, client in order:
                    spec = {"kind": "echo", "size": size, "count": count}
                    measure(server, client, [spec], [str(size)], r)
            log(f"  round {r + 1}/{plan.repeats}: round trips")
            for server, client in order:
                if server in CLIENT_SERVERS:
                    measure(
                        server, client, [{"kind": "rtt", "count": plan.rtt_samples}], ["rtt"], r
                    )
        else:
            log(f"  round {r + 1}/{plan.repeats}: echo and round trips")
            for server, client in order:
                specs = [{"kind": "echo", "size": s, "count": n} for s, n in plan.sizes]
                keys = list(sizes)
                if server in CLIENT_SERVERS:
                    specs.append({"kind": "rtt", "count": plan.rtt_samples})
                    keys.append("rtt")
                measure(server, client, specs, keys, r)

    summary: dict[str, Any] = {}
    for server, by_client in samples.items():
        for client, by_key in by_client.items():
            dst = summary.setdefault(server, {}).setdefault(client, {})
            for size in sizes:
                runs = [x for x in by_key.get(size, []) if x is not None]
                dst[size] = (
                    {
                        "msgs_per_s": _summary([x["msgs_per_s"] for x in runs]),
                        "mb_per_s": _summary([x["mb_per_s"] for x in runs]),
                        "cpu_us_per_msg": _summary([x["cpu_us_per_msg"] for x in runs]),
                        "rounds": len(runs),
                    }
                    if runs
                    else None
                )
            if "rtt" in by_key:
                runs = [x for x in by_key["rtt"] if x is not None]
                dst["rtt"] = (
                    {
                        "p50_us": _summary([x["p50_us"] for x in runs]),
                        "p99_us": _summary([x["p99_us"] for x in runs]),
                        "rounds": len(runs),
                    }
                    if runs
                    else None
                )
    return {"samples": samples, "summary": summary, "failures": failures}


# -- the speed targets ------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One target: ``client``'s figure against ``baseline``'s, at ``key``, on ``servers``.

    ``kind`` is ``"ratio"`` (throughput ratio, at least ``goal``; strictly more
    when ``strict``) or ``"rtt"`` (p50 difference in µs, at most ``goal``).
    A server comparison (``"server-ratio"``) divides the load client's figure
    against ``client`` (a server) by its figure against ``baseline`` (a server).
    """

    label: str
    kind: str
    client: str
    baseline: str
    key: str
    goal: float
    servers: tuple[str, ...] = CLIENT_SERVERS
    strict: bool = False


#: Our three ways of sending, as the targets name them.
FORMS = (("ours-thread", "plain-thread"), ("ours-callback", "callback"), ("ours-await", "await"))


def _size_targets() -> list[Target]:
    out = []
    for client, form in FORMS:
        # Every form at 64 B ≥ 2× raw and ≥ 0.9× picows, ≥ 1× raw above.
        out += [
            Target(
                f"64 B pipelined, {form} form / raw websockets", "ratio", client, "raw", "64", 2.0
            ),
            Target(f"64 B pipelined, {form} form / picows", "ratio", client, "picows", "64", 0.9),
            Target(f"4 KiB, {form} form / raw websockets", "ratio", client, "raw", "4096", 1.0),
            Target(
                f"1 MiB (4K pieces), {form} form / raw websockets",
                "ratio",
                client,
                "raw",
                str(MIB),
                1.0,
            ),
        ]
    for client, form in FORMS:
        for size in ("64", "4096", str(MIB)):
            out.append(
                Target(
                    f"{_size_name(int(size))}, {form} form / websocket-client",
                    "ratio",
                    client,
                    "wsclient",
                    size,
                    1.0,
                    strict=True,
                )
            )
    for client, form in FORMS:
        out.append(
            Target(
                f"64 B round trip p50, {form} form − raw websockets",
                "rtt",
                client,
                "raw",
                "rtt",
                60.0,
            )
        )
    for size in ("64", "4096", str(MIB)):
        out.append(
            Target(
                f"{_size_name(int(size))} echo, embedded server / plain websockets server "
                f"({LOAD_CLIENT} client)",
                "server-ratio",
                "embedded",
                "websockets",
                size,
                1.5,
                servers=("—",),
            )
        )
    return out


TARGETS = _size_targets()


def _figure(result: dict | None, key: str) -> float | None:
    if result is None:
        return None
    if key == "rtt":
        return result["p50_us"]
    return result["mb_per_s"] if result["size"] == MIB else result["msgs_per_s"]


def _paired(a: list, b: list, key: str, combine: Callable[[float, float], float]) -> list[float]:
    """Per-round combinations of two clients' figures (rounds where both ran)."""
    out = []
    for x, y in zip(a, b, strict=False):
        fx, fy = _figure(x, key), _figure(y, key)
        if fx is not None and fy is not None and (key == "rtt" or fy > 0):
            out.append(combine(fx, fy))
    return out


def evaluate_targets(samples: dict[str, dict[str, dict[str, list]]]) -> list[dict[str, Any]]:
    """Each target on each server: the per-round figures, their median, met or missed."""
    rows = []
    for t in TARGETS:
        for server in t.servers:
            if t.kind == "server-ratio":
                a = samples.get(t.client, {}).get(LOAD_CLIENT, {}).get(t.key, [])
                b = samples.get(t.baseline, {}).get(LOAD_CLIENT, {}).get(t.key, [])
            else:
                by_client = samples.get(server, {})
                a = by_client.get(t.client, {}).get(t.key, [])
                b = by_client.get(t.baseline, {}).get(t.key, [])
            if t.kind == "rtt":
                values = _paired(a, b, t.key, lambda x, y: x - y)
            else:
                values = _paired(a, b, t.key, lambda x, y: x / y)
            row: dict[str, Any] = {
                "target": t.label,
                "server": server,
                "kind": t.kind,
                "goal": t.goal,
                "strict": t.strict,
                "rounds": len(values),
            }
            if not values:
                row.update(value=None, met=None)
            else:
                value = statistics.median(values)
                if t.kind == "rtt":
                    met = value <= t.goal
                else:
                    met = value > t.goal if t.strict else value >= t.goal
                row.update(
                    value=value, min=min(values), max=max(values), met=met, gap=value - t.goal
                )
            rows.append(row)
    return rows


def _target_cells(row: dict[str, Any], repeats: int) -> tuple[str, str, str]:
    """(goal, measured, status) of one target row, as text."""
    partial = f" ({row['rounds']} of {repeats} rounds)" if row["rounds"] < repeats else ""
    rtt = row["kind"] == "rtt"
    goal = (
        f"≤ {row['goal']:+.0f} µs" if rtt else f"{'>' if row['strict'] else '≥'} {row['goal']:.2f}×"
    )
    if row["value"] is None:
        return goal, "no figure", "n/a (measurement failed)"
    if rtt:
        measured = f"{row['value']:+,.0f} µs [{row['min']:+,.0f} … {row['max']:+,.0f}]{partial}"
        if row["met"]:
            return goal, measured, f"met ({-row['gap']:,.0f} µs to spare)"
        return goal, measured, f"**missed** by {row['gap']:,.0f} µs"
    measured = f"{row['value']:.2f}× [{row['min']:.2f}–{row['max']:.2f}]{partial}"
    if row["met"]:
        return goal, measured, f"met (+{row['gap']:.2f}×)"
    short = -row["gap"]
    by = f"{short:.2f}" if short >= 0.01 else f"{short:.3f}"
    return goal, measured, f"**missed** by {by}× ({short / row['goal']:.1%} short)"


# -- 4: the 4K rule -------------------------------------------------------------------
def run_4k(plan: Plan, servers: Servers, log: Callable[[str], None]) -> dict:
    """1 MiB echoes through our callback form to the Node.js peer, pieces vs whole."""
    count = plan.sizes[-1][1]
    runs: dict[str, list] = {"pieces": [], "whole": []}
    failures = []
    for r in range(plan.repeats):
        for mode in _rotate(list(runs), r):
            log(f"  4k rule {r + 1}/{plan.repeats} {mode}")
            spec = {
                "kind": "echo",
                "client": "ours-callback",
                "url": servers.url("node"),
                "size": MIB,
                "count": count,
                "whole": mode == "whole",
            }
            try:
                runs[mode].append(_child("workloads", [spec], plan.child_timeout)[0])
            except ChildFailed as exc:
                log(f"    FAILED 4k rule {mode}: {str(exc).splitlines()[0]}")
                failures.append({"round": r + 1, "mode": mode, "error": str(exc)[-3000:]})
                servers.restart("node", str(exc))
    summary: dict[str, Any] = {}
    for mode, xs in runs.items():
        summary[mode] = (
            {
                "mb_per_s": _summary([x["mb_per_s"] for x in xs]),
                "cpu_us_per_msg": _summary([x["cpu_us_per_msg"] for x in xs]),
                "pieces_per_msg": xs[0]["pieces"] / xs[0]["count"],
            }
            if xs
            else None
        )
    return {"samples": runs, "summary": summary, "failures": failures}


# -- 5, 6: memory and the panel flood -------------------------------------------------
def run_memory(plan: Plan, log: Callable[[str], None]) -> dict:
    """Small messages with a panel attached; RSS growth."""
    log(f"  memory: {plan.memory_messages:,} messages with a panel")
    count = str(plan.memory_messages)
    with start_peer("flood", "--count", count, "--rate", "0", "--size", "16") as peer:
        out = _child("memory", {"kind": "flood", "url": peer.url, "count": plan.memory_messages})
    out["big"] = run_big_messages(log, rounds=max(plan.repeats, 3))
    return out


def run_big_messages(log: Callable[[str], None], count: int = 100, rounds: int = 3) -> dict:
    """``count`` x 1 MiB received with and without a panel, interleaved; RSS growth."""
    log(f"  memory: {count} x 1 MiB, with and without a panel ({rounds} rounds)")
    runs: dict[str, list[dict]] = {"none": [], "panel": []}
    with start_peer("flood", "--count", str(count), "--rate", "0", "--size", str(MIB)) as peer:
        for _ in range(rounds):
            for key in runs:
                spec = {"kind": "big", "url": peer.url, "count": count, "panel": key == "panel"}
                runs[key].append(_child("memory", spec))
    out: dict[str, Any] = {"count": count, "runs": runs}
    for key, results in runs.items():
        for figure in ("rss_growth_mb", "rss_peak_growth_mb"):
            out[f"{key}_{figure}"] = statistics.median(r[figure] for r in results)
    out["panel_cost_mb"] = out["panel_rss_growth_mb"] - out["none_rss_growth_mb"]
    out["budget_mb"] = runs["panel"][0]["budget_mb"]
    return out


def run_connections(plan: Plan, log: Callable[[str], None]) -> dict:
    """Connections from one process to the embedded server."""
    log(f"  memory: {plan.connections:,} connections")
    with start_embedded_echo(max_clients=plan.connections + 100) as peer:
        return _child("memory", {"kind": "connections", "url": peer.url, "count": plan.connections})


def run_flood(plan: Plan, log: Callable[[str], None]) -> dict:
    """The panel flood in a real kernel."""
    from .kernel_flood import panel_flood

    log(f"  panel flood: {plan.flood_rate:,} msg/s for {plan.flood_seconds:g} s in a kernel")
    return panel_flood(plan.flood_rate, plan.flood_seconds)


# -- the machine and the report ----------------------------------------------------
def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as f:
        model = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    from importlib.metadata import PackageNotFoundError, version

    def version_of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "websockets": version_of("websockets"),
        "websocket-client": version_of("websocket-client"),
        "picows": version_of("picows"),
        "ohws_jupyter": version_of("ohws_jupyter"),
        **node_versions(),
        "loadavg_start": os.getloadavg(),
    }


def _fmt(s: dict[str, float], digits: int = 0) -> str:
    return f"{s['median']:,.{digits}f} [{s['min']:,.{digits}f}–{s['max']:,.{digits}f}]"


def _ratio_text(samples: dict, server: str, client: str, base: str, key: str) -> str:
    values = _paired(
        samples.get(server, {}).get(client, {}).get(key, []),
        samples.get(server, {}).get(base, {}).get(key, []),
        key,
        lambda x, y: x / y,
    )
    return f"{statistics.median(values):.2f}×" if values else "–"


def _server_state(failure: dict[str, Any]) -> str:
    """What became of the server after a failed measurement, as a clause."""
    health = failure.get("server_health") or {"running": True}
    if not health["running"]:
        return f"; **the server had exited** (status {health['returncode']})"
    answered = failure.get("server_answered_after")
    if answered is None:
        return ""
    if answered:
        return "; the server still answered handshakes"
    return "; **the server no longer answered handshakes**"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def report_targets(results: dict[str, Any]) -> list[str]:
    rows = results["echo"]["targets"]
    met = sum(1 for r in rows if r["met"])
    judged = sum(1 for r in rows if r["met"] is not None)
    unjudged = f"; {len(rows) - judged} without a figure" if judged < len(rows) else ""
    body = []
    for row in rows:
        goal, measured, status = _target_cells(row, results["plan"]["repeats"])
        body.append(
            [row["target"], SERVER_NAMES.get(row["server"], row["server"]), goal, measured, status]
        )
    return [
        f"**Targets** ({met} of {judged} met{unjudged}; median of the per-round ratios [min–max])",
        "",
        *_table(["target", "echo server", "goal", "measured", "status"], body),
        "",
    ]


def report(results: dict[str, Any], plan: Plan) -> str:
    """The results as Markdown tables."""
    m = results["machine"]
    lines = [
        f"Run {results['date']} on {m['nproc']} × {m['cpu']}, Python {m['python']}, "
        f"{m['system']}; websockets {m['websockets']}, websocket-client "
        f"{m['websocket-client']}, picows {m['picows']}, Node.js {m['node'] or '–'} with "
        f"ws {m['ws'] or '–'} (bufferutil {m.get('bufferutil') or 'absent'}). Load average "
        f"at start {m['loadavg_start'][0]:.2f}, at end "
        f"{m['loadavg_end'][0]:.2f}. Median of {plan.repeats} round(s) [min–max]; × is "
        "the median of the per-round ratios to `raw` on the same server.",
        "",
    ]
    if "echo" in results:
        echo = results["echo"]
        samples, summary = echo["samples"], echo["summary"]
        lines += report_targets(results)
        lines += ["**Echo throughput, pipelined** (64 B, 4 KiB: messages/s; 1 MiB: MB/s)", ""]
        rows = []
        for server in CLIENT_SERVERS:
            for size, _ in plan.sizes:
                key = "mb_per_s" if size == MIB else "msgs_per_s"
                cells = [SERVER_NAMES[server], _size_name(size)]
                for client in CLIENTS:
                    s = summary.get(server, {}).get(client, {}).get(str(size))
                    if s is None:
                        cells.append("failed")
                        continue
                    ratio = _ratio_text(samples, server, client, "raw", str(size))
                    cells.append(f"{_fmt(s[key], 1 if size == MIB else 0)} {ratio}")
                rows.append(cells)
        lines += [*_table(["server", "size", *CLIENTS], rows), ""]

        rows = []
        for size, _ in plan.sizes:
            key = "mb_per_s" if size == MIB else "msgs_per_s"
            cells = [_size_name(size)]
            for server in ("websockets", "embedded", "node"):
                s = summary.get(server, {}).get(LOAD_CLIENT, {}).get(str(size))
                cells.append(_fmt(s[key], 1 if size == MIB else 0) if s else "failed")
            row = next(
                r
                for r in echo["targets"]
                if r["target"].startswith(_size_name(size)) and r["kind"] == "server-ratio"
            )
            cells.insert(3, _target_cells(row, plan.repeats)[1])
            rows.append(cells)
        lines += [
            f"**Echo servers** (one `{LOAD_CLIENT}` client, pipelined; 64 B, 4 KiB: "
            "messages/s; 1 MiB: MB/s; the Node.js column is the client's own ceiling)",
            "",
            *_table(
                [
                    "size",
                    "plain websockets",
                    "embedded (ours)",
                    "embedded / plain",
                    f"{LOAD_CLIENT} → Node.js ws",
                ],
                rows,
            ),
            "",
        ]

        rows = []
        for server in CLIENT_SERVERS:
            cells = [SERVER_NAMES[server]]
            raw = summary.get(server, {}).get("raw", {}).get("rtt")
            for client in CLIENTS:
                rtt = summary.get(server, {}).get(client, {}).get("rtt")
                if rtt is None:
                    cells.append("failed")
                    continue
                p50, p99 = rtt["p50_us"]["median"], rtt["p99_us"]["median"]
                diff = f" ({p50 - raw['p50_us']['median']:+,.0f})" if raw else ""
                cells.append(f"{p50:,.0f} / {p99:,.0f}{diff}")
            rows.append(cells)
        lines += [
            "**Round trip, 64 B, one message in flight** (µs, p50 / p99; in brackets p50 "
            "minus raw's)",
            "",
            *_table(["server", *CLIENTS], rows),
            "",
        ]

        rows = []
        for server in CLIENT_SERVERS:
            for size, _ in plan.sizes:
                cells = [SERVER_NAMES[server], _size_name(size)]
                for client in CLIENTS:
                    s = summary.get(server, {}).get(client, {}).get(str(size))
                    cells.append(f"{s['cpu_us_per_msg']['median']:,.1f}" if s else "–")
                rows.append(cells)
        lines += [
            "**Client CPU per message** (µs, user+system of the client process, median)",
            "",
            *_table(["server", "size", *CLIENTS], rows),
            "",
        ]
        if echo["failures"] or results.get("restarts"):
            lines += [
                "**Failed measurements** (each left out of its figures; the server was "
                "restarted after it)",
                "",
            ]
            for f in echo["failures"]:
                what = ", ".join(
                    "round trips" if k == "rtt" else _size_name(int(k)) for k in f["what"]
                )
                cause = (
                    f["error"].strip().splitlines()[0].removeprefix("benchmarks.workloads failed: ")
                )
                state = _server_state(f)
                lines.append(
                    f"- round {f['round']}, {f['client']} → {SERVER_NAMES[f['server']]}, "
                    f"{what}: {cause}{state}"
                )
            lines.append("")
    if "4k" in results:
        s = results["4k"]["summary"]
        if s["pieces"] and s["whole"]:
            ratio = s["pieces"]["mb_per_s"]["median"] / s["whole"]["mb_per_s"]["median"]
            lines += [
                "**The 4K rule** (1 MiB echoes, our callback form, Node.js ws server)",
                "",
                *_table(
                    ["delivery", "MB/s", "client CPU µs/message", "events/message"],
                    [
                        [
                            "pieces + dataEnd",
                            _fmt(s["pieces"]["mb_per_s"], 1),
                            f"{s['pieces']['cpu_us_per_msg']['median']:,.0f}",
                            f"{s['pieces']['pieces_per_msg']:.0f} + 1",
                        ],
                        [
                            "wholeMessages",
                            _fmt(s["whole"]["mb_per_s"], 1),
                            f"{s['whole']['cpu_us_per_msg']['median']:,.0f}",
                            "1 + 1",
                        ],
                        ["pieces / whole", f"{ratio:.2f}×", "", ""],
                    ],
                ),
                "",
            ]
        else:
            lines += ["**The 4K rule**: failed (see the JSON file)", ""]
    if "memory" in results or "connections" in results:
        rows = []
        if "memory" in results:
            mem = results["memory"]
            rows.append(
                [
                    f"{mem['count']:,} small messages, panel attached",
                    f"RSS {mem['rss_before_mb']:.1f} → {mem['rss_after_mb']:.1f} MB "
                    f"(+{mem['rss_growth_mb']:.1f} MB), {mem['msgs_per_s']:,.0f} msg/s",
                ]
            )
            if "big" in mem:
                big = mem["big"]
                rows.append(
                    [
                        f"{big['count']} x 1 MiB messages, panel attached or not (medians)",
                        f"RSS +{big['panel_rss_growth_mb']:.1f} MB with a panel, "
                        f"+{big['none_rss_growth_mb']:.1f} MB without: the panel costs "
                        f"{big['panel_cost_mb']:.1f} MB (budget {big['budget_mb']:.0f} MiB)",
                    ]
                )
        if "connections" in results:
            con = results["connections"]
            rows.append(
                [
                    f"{con['count']:,} connections to the embedded server",
                    f"all open in {con['seconds_to_open_all']:.2f} s, "
                    f"{con['kb_per_connection']:.0f} KB RSS each",
                ]
            )
        lines += ["**Memory**", "", *_table(["what", "figure"], rows), ""]
    if "flood" in results:
        f = results["flood"]
        counters = "yes" if f["counters_exact"] else "NO " + json.dumps(f["counters"])
        lines += [
            f"**Panel flood in a kernel** ({f['rate_asked']:,} msg/s asked, {f['count']:,} "
            "messages)",
            "",
            *_table(
                [
                    "messages in /s",
                    "widget messages /s (busiest second)",
                    "counters exact",
                    "execute_request reply p50 / max",
                    "kernel RSS before → after",
                ],
                [
                    [
                        f"{f['msgs_in_per_s']:,.0f}",
                        f"{f['widget_msgs_per_s']:.1f} ({_busiest(f)})",
                        counters,
                        f"{f['execute_reply_p50_ms']:.1f} / {f['execute_reply_max_ms']:.1f} ms",
                        f"{f['kernel_rss_before_mb']:.1f} → {f['kernel_rss_after_mb']:.1f} MB",
                    ]
                ],
            ),
            "",
        ]
    return "\n".join(lines)


def _busiest(flood: dict) -> str:
    # Results of earlier runs counted every widget message, flood or not.
    busiest = flood.get("widget_msgs_busiest_second")
    return "not recorded" if busiest is None else f"{busiest}"


@contextlib.contextmanager
def _servers(names: Sequence[str]) -> Iterator[Servers]:
    servers = Servers(names)
    try:
        yield servers
    finally:
        servers.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to prove it works")
    parser.add_argument("--repeats", type=int, default=None, help="override the repeat count")
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="run these only"
    )
    parser.add_argument(
        "--out", type=pathlib.Path, default=HERE / "results", help="folder for the JSON file"
    )
    parser.add_argument(
        "--report", type=pathlib.Path, help="print the tables of a results JSON file; run nothing"
    )
    parser.add_argument(
        "--latest", action="store_true", help="with --report: also rewrite benchmarks/LATEST.md"
    )
    args = parser.parse_args(argv)
    if args.report:
        saved = json.loads(args.report.read_text())
        if "echo" in saved:  # judged again: the targets may have changed since
            saved["echo"]["targets"] = evaluate_targets(saved["echo"]["samples"])
        text = report(saved, Plan(**saved["plan"]))
        print(text)
        if args.latest:
            _write_latest(text)
        return 0
    plan = QUICK if args.quick else FULL
    if args.repeats:
        plan = Plan(**{**plan.__dict__, "repeats": args.repeats})

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    started = time.monotonic()
    results: dict[str, Any] = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "quick": args.quick,
        "plan": plan.__dict__,
    }
    needed = []
    if "echo" in args.only:
        needed = ["node", "embedded", "websockets"]
    elif "4k" in args.only:
        needed = ["node"]
    if needed:
        with _servers(needed) as servers:
            results["machine"] = machine()  # after npm install: it names the ws version
            if "echo" in args.only:
                log("echo throughput and round trips")
                results["echo"] = run_echo(plan, servers, log)
                results["echo"]["targets"] = evaluate_targets(results["echo"]["samples"])
            if "4k" in args.only:
                results["4k"] = run_4k(plan, servers, log)
            results["restarts"] = servers.restarts
    else:
        results["machine"] = machine()
    if "memory" in args.only:
        results["memory"] = run_memory(plan, log)
    if "connections" in args.only:
        results["connections"] = run_connections(plan, log)
    if "flood" in args.only:
        results["flood"] = run_flood(plan, log)
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["seconds"] = time.monotonic() - started

    text = report(results, plan)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = args.out / f"bench-{'quick-' if args.quick else ''}{stamp}.json"
    path.write_text(json.dumps(results, indent=1))
    log(f"results: {path} ({results['seconds']:.0f} s)")
    if not args.quick and set(args.only) == set(SECTIONS):
        _write_latest(text)
    return 0


def _write_latest(text: str) -> None:
    latest = (
        "# Latest benchmark run\n\nMade by `python -m benchmarks`; docs/benchmarks.md "
        "says how each figure is measured.\n\n" + text + "\n"
    )
    (HERE / "LATEST.md").write_text(latest)
    README.write_text(with_readme_figures(README.read_text(), latest))


#: The README's block of figures lies between these lines; ``python -m benchmarks``
#: rewrites it from LATEST.md, so its figures are never copied by hand.
README = HERE.parent / "README.md"
FIGURES_BEGIN = "<!-- figures: made by `python -m benchmarks` from benchmarks/LATEST.md -->"
FIGURES_END = "<!-- end of figures -->"
#: What of LATEST.md the README shows: the run line and these two tables.
_README_TABLES = ("**Targets", "**Echo throughput")


def readme_figures(latest: str) -> str:
    """The README's block: LATEST.md's run line, targets and echo throughput tables."""
    blocks = latest.split("\n\n")
    keep = []
    for i, block in enumerate(blocks):
        if block.startswith("Run "):
            keep.append(block)
        elif block.startswith(_README_TABLES) and i + 1 < len(blocks):
            keep += [block, blocks[i + 1]]
    keep.append("Every other table of that run: [benchmarks/LATEST.md](benchmarks/LATEST.md).")
    return "\n\n".join(keep)


def with_readme_figures(readme: str, latest: str) -> str:
    """``readme`` with its block of figures made again from ``latest``.

    Raises:
        ValueError: The README has no block (its two marker lines are missing).
    """
    start, end = readme.find(FIGURES_BEGIN), readme.find(FIGURES_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md lacks the lines {FIGURES_BEGIN!r} … {FIGURES_END!r}")
    head = readme[: start + len(FIGURES_BEGIN)]
    return f"{head}\n\n{readme_figures(latest)}\n\n{readme[end:]}"
