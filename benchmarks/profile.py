"""Profile one client workload with py-spy and list where its time goes.

``python -m benchmarks.profile [--client ours-callback] [--size 64] [--count N]
[--server node|embedded|websockets] [--top 15] [--out DIR] [--gil]``

Starts the echo server, runs ``python -m benchmarks.workloads`` for one echo
measurement under ``py-spy record --format speedscope`` (``pip install
py-spy``), and prints the functions with the most self time: those of
``ohws_jupyter``, and of everything. Samples are counted per thread (the
sender, the I/O thread ``ohws-io``, the callback workers ``ohws-callbacks-N``),
idle samples left out, so a percentage is of the samples in which some thread
of the client was running Python code. With ``--gil`` only the thread holding
the GIL is sampled. Samples taken during imports are left out.

``--summarise FILE`` lists an existing speedscope file instead.
The speedscope file stays in ``--out`` for https://www.speedscope.app.
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import shutil
import subprocess
import sys
from typing import Any

from .peers import start_embedded_echo, start_node_echo, start_peer

__all__ = ["main", "self_time"]

HERE = pathlib.Path(__file__).parent
PACKAGE = "ohws_jupyter"


def _where(frame: dict[str, Any]) -> str:
    path = frame.get("file") or "?"
    parts = pathlib.PurePath(path).parts
    for anchor in (PACKAGE, "site-packages", "benchmarks"):
        if anchor in parts:
            i = parts.index(anchor)
            path = "/".join(parts[i + (anchor == "site-packages") :])
            break
    else:
        path = pathlib.PurePath(path).name
    return f"{path}:{frame['name']}"


def self_time(speedscope: dict[str, Any]) -> dict[str, Any]:
    """Self time in seconds per function (all threads), per function of our package, per thread.

    py-spy weighs each sample with the seconds it stands for.
    """
    frames = speedscope["shared"]["frames"]
    everything: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    ours_total: collections.Counter[str] = collections.Counter()
    ours_lines: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    samples = 0
    for profile in speedscope["profiles"]:
        weights = profile.get("weights") or [1] * len(profile["samples"])
        for stack, weight in zip(profile["samples"], weights, strict=False):
            if not stack:
                continue
            leaf = frames[stack[-1]]
            if any((frames[i].get("file") or "").startswith("<frozen importlib") for i in stack):
                continue  # start-up: imports
            samples += weight
            threads[profile["name"]] += weight
            everything[_where(leaf)] += weight
            if PACKAGE in pathlib.PurePath(leaf.get("file") or "").parts:
                ours[_where(leaf)] += weight
                ours_lines[f"{_where(leaf)} line {leaf.get('line')}"] += weight
            seen = set()
            for i in stack:
                frame = frames[i]
                if PACKAGE in pathlib.PurePath(frame.get("file") or "").parts:
                    name = _where(frame)
                    if name not in seen:
                        seen.add(name)
                        ours_total[name] += weight
    return {
        "samples": samples,
        "threads": dict(threads),
        "self_all": everything.most_common(),
        "self_ours": ours.most_common(),
        "total_ours": ours_total.most_common(),
        "lines_ours": ours_lines.most_common(),
    }


def render(summary: dict[str, Any], top: int) -> str:
    total = summary["samples"] or 1

    def table(title: str, rows: list[tuple[str, int]]) -> list[str]:
        out = [title, "", "| # | function | ms | % of all |", "|---|---|---|---|"]
        for i, (name, seconds) in enumerate(rows[:top], 1):
            out.append(f"| {i} | `{name}` | {seconds * 1e3:,.0f} | {seconds / total:.1%} |")
        return [*out, ""]

    ours = sum(n for _, n in summary["self_ours"])
    lines = [
        f"{summary['samples']:,.2f} s of samples; {ours / total:.1%} of them in {PACKAGE} itself.",
        "",
        "Threads: "
        + ", ".join(f"{name.strip()} {n / total:.0%}" for name, n in summary["threads"].items()),
        "",
    ]
    lines += table(f"**Self time, {PACKAGE} functions**", summary["self_ours"])
    lines += table(f"**Total time (self + callees), {PACKAGE} functions**", summary["total_ours"])
    lines += table(f"**Self time by line, {PACKAGE}**", summary["lines_ours"])
    lines += table("**Self time, all functions**", summary["self_all"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("--client", default="ours-callback", help="a client of the benchmarks")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--server", choices=["node", "embedded", "websockets"], default="node")
    parser.add_argument("--whole", action="store_true", help="wholeMessages (ours only)")
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    parser.add_argument("--gil", action="store_true", help="sample only the GIL holder")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--out", type=pathlib.Path, default=HERE / "results")
    parser.add_argument("--summarise", type=pathlib.Path, help="list this speedscope file")
    args = parser.parse_args(argv)

    if args.summarise:
        print(render(self_time(json.loads(args.summarise.read_text())), args.top))
        return 0
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"profile-{args.client}-{args.size}-{args.server}{'-gil' if args.gil else ''}"
    path = args.out / f"{name}.speedscope.json"
    start = {
        "node": start_node_echo,
        "embedded": start_embedded_echo,
        "websockets": lambda: start_peer("echo"),
    }[args.server]
    with start() as peer:
        spec = {
            "kind": "echo",
            "client": args.client,
            "url": peer.url,
            "size": args.size,
            "count": args.count,
            "whole": args.whole,
        }
        command = [
            py_spy,
            "record",
            "--format",
            "speedscope",
            "-o",
            str(path),
            "--rate",
            str(args.rate),
            "--nonblocking",
        ]
        if args.gil:
            command.append("--gil")
        command += ["--", sys.executable, "-m", "benchmarks.workloads", json.dumps([spec])]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
    if proc.returncode != 0 or not path.is_file():
        print(proc.stderr[-3000:], file=sys.stderr)
        return 1
    # py-spy prints its own lines too; the workload's answer is the JSON list.
    answer = [line for line in proc.stdout.splitlines() if line.startswith("[{")]
    result = json.loads(answer[-1])[0]
    figure = (
        f"{result['mb_per_s']:,.1f} MB/s"
        if args.size >= 1 << 20
        else f"{result['msgs_per_s']:,.0f} msgs/s"
    )
    print(
        f"{args.client}, {args.count:,} × {args.size} B to the {args.server} server: {figure} "
        f"under py-spy ({args.rate}/s{', GIL only' if args.gil else ''}); profile in {path}\n"
    )
    print(render(self_time(json.loads(path.read_text())), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
