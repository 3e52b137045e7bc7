"""``python -m benchmarks``: every benchmark of issue 7 in one run, side by side.

1. Echo throughput (64 B and 4 KiB messages/s, 1 MiB MB/s) against a plain
   ``websockets`` server and against our embedded server, each in its own
   process, for four clients: our API (callback form and ``await`` form), the
   raw ``websockets`` client and ``websocket-client``.
2. Round-trip time p50/p99 of 64-byte echoes, same clients and servers.
3. The panel flood in a real kernel.
4. Memory: many small messages with a panel attached; many connections.
5. The cost of the 4K rule: 1 MiB echoes in pieces + ``dataEnd`` vs whole.

Repeats interleave the clients, so a change of machine load hits all of them
alike; each figure is the median of the repeats with the range beside it, and
ratios are against ``raw`` measured in the same run. Results go to
``benchmarks/results/*.json``; a full run also rewrites ``benchmarks/LATEST.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .peers import Peer, start_embedded_echo, start_peer
from .workloads import CLIENTS

__all__ = ["FULL", "QUICK", "Plan", "main"]

HERE = pathlib.Path(__file__).parent
MIB = 1024 * 1024


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


FULL = Plan(
    repeats=5,
    sizes=((64, 20_000), (4096, 10_000), (MIB, 100)),
    rtt_samples=2000,
    flood_rate=20_000,
    flood_seconds=10.0,
    memory_messages=1_000_000,
    connections=1000,
)
QUICK = Plan(
    repeats=1,
    sizes=((64, 500), (4096, 200), (MIB, 4)),
    rtt_samples=50,
    flood_rate=1000,
    flood_seconds=1.0,
    memory_messages=5000,
    connections=20,
)
SECTIONS = ("echo", "4k", "memory", "connections", "flood")


def _child(module: str, spec: Any, timeout: float = 900.0) -> Any:
    """Run ``python -m benchmarks.MODULE JSON`` and return its JSON answer."""
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=HERE.parent,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmarks.{module} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


# -- the benchmarks ----------------------------------------------------------------
def run_echo(plan: Plan, servers: dict[str, Peer], log: Callable[[str], None]) -> dict:
    """Items 1 and 2: throughput and RTT, every client against every server."""
    samples: dict[str, dict[str, dict[str, list]]] = {}
    for r in range(plan.repeats):
        for server, peer in servers.items():
            for client in CLIENTS:
                specs: list[dict[str, Any]] = [
                    {"kind": "echo", "client": client, "url": peer.url, "size": size, "count": n}
                    for size, n in plan.sizes
                ]
                specs.append(
                    {"kind": "rtt", "client": client, "url": peer.url, "count": plan.rtt_samples}
                )
                log(f"  echo {r + 1}/{plan.repeats} {server} {client}")
                out = _child("workloads", specs)
                cell = samples.setdefault(server, {}).setdefault(client, {})
                for (size, _), res in zip(plan.sizes, out, strict=False):
                    cell.setdefault(str(size), []).append(res)
                cell.setdefault("rtt", []).append(out[-1])
    summary: dict[str, Any] = {}
    for server, by_client in samples.items():
        for client, by_size in by_client.items():
            dst = summary.setdefault(server, {}).setdefault(client, {})
            for size, _ in plan.sizes:
                runs = by_size[str(size)]
                dst[str(size)] = {
                    "msgs_per_s": _summary([x["msgs_per_s"] for x in runs]),
                    "mb_per_s": _summary([x["mb_per_s"] for x in runs]),
                    "cpu_us_per_msg": _summary([x["cpu_us_per_msg"] for x in runs]),
                }
            dst["rtt"] = {
                "p50_us": _summary([x["p50_us"] for x in by_size["rtt"]]),
                "p99_us": _summary([x["p99_us"] for x in by_size["rtt"]]),
            }
    return {"samples": samples, "summary": summary}


def run_4k(plan: Plan, peer: Peer, log: Callable[[str], None]) -> dict:
    """Item 5: 1 MiB echoes through our callback form, pieces vs whole messages."""
    count = plan.sizes[-1][1]
    runs: dict[str, list] = {"pieces": [], "whole": []}
    for r in range(plan.repeats):
        for mode in runs:
            log(f"  4k rule {r + 1}/{plan.repeats} {mode}")
            spec = {"kind": "echo", "client": "ours-callback", "url": peer.url, "size": MIB,
                    "count": count, "whole": mode == "whole"}  # fmt: skip
            runs[mode].append(_child("workloads", [spec])[0])
    return {
        "samples": runs,
        "summary": {
            mode: {
                "mb_per_s": _summary([x["mb_per_s"] for x in xs]),
                "cpu_us_per_msg": _summary([x["cpu_us_per_msg"] for x in xs]),
                "pieces_per_msg": xs[0]["pieces"] / xs[0]["count"],
            }
            for mode, xs in runs.items()
        },
    }


def run_memory(plan: Plan, log: Callable[[str], None]) -> dict:
    """Item 4a: small messages with a panel attached; RSS growth."""
    log(f"  memory: {plan.memory_messages:,} messages with a panel")
    count = str(plan.memory_messages)
    with start_peer("flood", "--count", count, "--rate", "0", "--size", "16") as peer:
        return _child("memory", {"kind": "flood", "url": peer.url, "count": plan.memory_messages})


def run_connections(plan: Plan, log: Callable[[str], None]) -> dict:
    """Item 4b: connections from one process to the embedded server."""
    log(f"  memory: {plan.connections:,} connections")
    with start_embedded_echo(max_clients=plan.connections + 100) as peer:
        return _child("memory", {"kind": "connections", "url": peer.url, "count": plan.connections})


def run_flood(plan: Plan, log: Callable[[str], None]) -> dict:
    """Item 3: the panel flood in a real kernel."""
    from .kernel_flood import panel_flood

    log(f"  panel flood: {plan.flood_rate:,} msg/s for {plan.flood_seconds:g} s in a kernel")
    return panel_flood(plan.flood_rate, plan.flood_seconds)


# -- the machine and the report ----------------------------------------------------
def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    from importlib.metadata import version

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "websockets": version("websockets"),
        "websocket-client": version("websocket-client"),
        "ohws_jupyter": version("ohws_jupyter"),
        "loadavg_start": os.getloadavg(),
    }


def _fmt(s: dict[str, float], digits: int = 0) -> str:
    return f"{s['median']:,.{digits}f} [{s['min']:,.{digits}f}–{s['max']:,.{digits}f}]"


def _size_name(size: int) -> str:
    return "1 MiB" if size == MIB else ("4 KiB" if size == 4096 else f"{size} B")


def report(results: dict[str, Any], plan: Plan) -> str:
    """The results as Markdown tables."""
    m = results["machine"]
    lines = [
        f"Run {results['date']} on {m['nproc']} × {m['cpu']}, Python {m['python']}, "
        f"{m['system']}; websockets {m['websockets']}, websocket-client "
        f"{m['websocket-client']}. Load average at start {m['loadavg_start'][0]:.2f}, "
        f"at end {m['loadavg_end'][0]:.2f}. Median of {plan.repeats} "
        "[min–max]; × is the ratio to `raw` on the same server in the same run.",
        "",
    ]
    if "echo" in results:
        summary = results["echo"]["summary"]
        lines += [
            "**Echo throughput** (64 B, 4 KiB: messages/s; 1 MiB: MB/s)",
            "",
            "| server | size | " + " | ".join(CLIENTS) + " |",
            "|---|---|" + "---|" * len(CLIENTS),
        ]
        for server, by_client in summary.items():
            for size, _ in plan.sizes:
                key = "mb_per_s" if size == MIB else "msgs_per_s"
                raw = by_client["raw"][str(size)][key]["median"]
                cells = []
                for client in CLIENTS:
                    s = by_client[client][str(size)][key]
                    cells.append(f"{_fmt(s, 1 if size == MIB else 0)} {s['median'] / raw:.2f}×")
                lines.append(f"| {server} | {_size_name(size)} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "**Round trip, 64 B** (µs, p50 / p99)",
            "",
            "| server | " + " | ".join(CLIENTS) + " |",
            "|---|" + "---|" * len(CLIENTS),
        ]
        for server, by_client in summary.items():
            raw = by_client["raw"]["rtt"]["p50_us"]["median"]
            cells = []
            for client in CLIENTS:
                rtt = by_client[client]["rtt"]
                p50, p99 = rtt["p50_us"]["median"], rtt["p99_us"]["median"]
                cells.append(f"{p50:,.0f} / {p99:,.0f} ({p50 - raw:+,.0f})")
            lines.append(f"| {server} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "**Client CPU per message** (µs, user+system of the client process, median)",
            "",
            "| server | size | " + " | ".join(CLIENTS) + " |",
            "|---|---|" + "---|" * len(CLIENTS),
        ]
        for server, by_client in summary.items():
            for size, _ in plan.sizes:
                cells = [
                    f"{by_client[c][str(size)]['cpu_us_per_msg']['median']:,.0f}" for c in CLIENTS
                ]
                lines.append(f"| {server} | {_size_name(size)} | " + " | ".join(cells) + " |")
        lines.append("")
    if "4k" in results:
        s = results["4k"]["summary"]
        ratio = s["pieces"]["mb_per_s"]["median"] / s["whole"]["mb_per_s"]["median"]
        lines += [
            "**The 4K rule** (1 MiB echoes, our callback form, websockets server)",
            "",
            "| delivery | MB/s | client CPU µs/message | events/message |",
            "|---|---|---|---|",
            f"| pieces + dataEnd | {_fmt(s['pieces']['mb_per_s'], 1)} "
            f"| {s['pieces']['cpu_us_per_msg']['median']:,.0f} "
            f"| {s['pieces']['pieces_per_msg']:.0f} + 1 |",
            f"| wholeMessages | {_fmt(s['whole']['mb_per_s'], 1)} "
            f"| {s['whole']['cpu_us_per_msg']['median']:,.0f} | 1 + 1 |",
            f"| pieces / whole | {ratio:.2f}× | | |",
            "",
        ]
    if "memory" in results or "connections" in results:
        lines += ["**Memory**", "", "| what | figure |", "|---|---|"]
        if "memory" in results:
            mem = results["memory"]
            lines.append(
                f"| {mem['count']:,} small messages, panel attached | RSS "
                f"{mem['rss_before_mb']:.1f} → {mem['rss_after_mb']:.1f} MB "
                f"(+{mem['rss_growth_mb']:.1f} MB), {mem['msgs_per_s']:,.0f} msg/s |"
            )
        if "connections" in results:
            con = results["connections"]
            lines.append(
                f"| {con['count']:,} connections to the embedded server | all open in "
                f"{con['seconds_to_open_all']:.2f} s, {con['kb_per_connection']:.0f} KB RSS each |"
            )
        lines.append("")
    if "flood" in results:
        f = results["flood"]
        lines += [
            f"**Panel flood in a kernel** ({f['rate_asked']:,} msg/s asked, {f['count']:,} "
            "messages)",
            "",
            "| messages in /s | widget messages /s | counters exact | execute_request reply "
            "p50 / max | kernel RSS before → after |",
            "|---|---|---|---|---|",
            f"| {f['msgs_in_per_s']:,.0f} | {f['widget_msgs_per_s']:.1f} | "
            f"{'yes' if f['counters_exact'] else 'NO ' + json.dumps(f['counters'])} | "
            f"{f['execute_reply_p50_ms']:.1f} / {f['execute_reply_max_ms']:.1f} ms | "
            f"{f['kernel_rss_before_mb']:.1f} → {f['kernel_rss_after_mb']:.1f} MB |",
            "",
        ]
    return "\n".join(lines)


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
    args = parser.parse_args(argv)
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
        "machine": machine(),
    }
    if "echo" in args.only or "4k" in args.only:
        with start_peer("echo") as plain, start_embedded_echo() as embedded:
            if "echo" in args.only:
                log("echo throughput and round trips")
                servers = {"websockets": plain, "embedded": embedded}
                results["echo"] = run_echo(plan, servers, log)
            if "4k" in args.only:
                results["4k"] = run_4k(plan, plain, log)
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
        (HERE / "LATEST.md").write_text(
            "# Latest benchmark run\n\nMade by `python -m benchmarks`; see "
            "the README's Benchmarks section for what each figure means.\n\n" + text + "\n"
        )
    return 0
