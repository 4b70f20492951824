"""Run every benchmark, print one table of figures against their targets, write bench/results.json.

Each suite runs in its own Python process (``bench/bench_*.py --json``-style: the suite
prints its figures as JSON on stdout), so one suite's imports, threads and pools cannot
colour another's figures. Every figure is a ratio to a baseline measured in the same
run, or a median, because the machines are noisy. Targets and their reasons are in
docs/performance.md.

    python bench/run.py            # the full run (a few minutes)
    python bench/run.py --quick    # smaller sizes, fewer repeats: a smoke check (< 2 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
SUITES = ("core", "state", "resume", "cache", "executors", "server")


@dataclass(frozen=True)
class Target:
    """One row of the table: where the figure is in a suite's JSON, and when it is met."""

    label: str
    suite: str
    path: str  # dotted path into the suite's figures; an integer picks a list item
    unit: str
    met: Callable[[float], bool] | None  # None: reported, no target
    goal: str = ""


TARGETS = (
    Target("CLI start: orch --version / import click, yaml, pluggy", "core", "cli_start.version_ratio", "x",
           lambda v: v <= 1.2, "<= 1.2x"),
    Target("CLI start: orch run one step / same baseline", "core", "cli_start.run_one_step_ratio", "x",
           lambda v: v <= 2.0, "<= 2x"),
    Target("inline chain 1,000 steps, overhead per step", "core", "inline_chain.0.overhead_us_per_step", "us",
           lambda v: v <= 60, "<= 60 us"),
    Target("inline chain 10,000 steps, overhead per step", "core", "inline_chain.1.overhead_us_per_step", "us",
           lambda v: v <= 60, "<= 60 us"),
    Target("inline chain 1,000 steps with the state store", "state", "noop_chain.with_store_us_per_step", "us",
           lambda v: v <= 100, "<= 100 us"),
    Target("state store cost / no store (no-op chain)", "state", "noop_chain.ratio", "x", None),
    Target("same, while a server watches (step events journaled)", "state",
           "watched_noop_chain.with_store_and_journal_us_per_step", "us", None),
    Target("history bytes per context write", "state", "history.bytes_per_write_with_its_step_row", "B", None),
    Target("--resume-from start / full start, 1,000 steps, 100 runs", "resume", "long_history.ratio", "x",
           lambda v: v <= 1.5, "<= 1.5x"),
    Target("same ratio, 100 runs / 10 runs of history", "resume", "history_growth", "x", None),
    Target("what a resume adds to a full start, per recipe step", "resume",
           "long_history.added_us_per_recipe_step", "us", None),
    Target("thread fan-out 1 -> N -> 1 / bare ThreadPoolExecutor", "core", "thread_fan_out.ratio", "x",
           lambda v: v <= 2.0, "<= 2x"),
    Target("8 x 0.2 s sleeps on 4 workers, wall", "core", "parallel_efficiency.run_s", "s",
           lambda v: v <= 0.45, "<= 0.45 s"),
    Target("process speed-up / bare ProcessPoolExecutor speed-up", "executors",
           "process_speedup.speedup_vs_raw", "x", lambda v: v >= 0.95, ">= 0.95"),
    Target("process executor per step / bare pool", "executors", "per_step.process.ratio", "x", None),
    Target("dask executor per step / bare client.submit", "executors", "per_step.dask.ratio", "x", None),
    Target("chatty step at a terminal (4,000 lines): live bar / --no-progress", "core",
           "chatty_step_at_a_terminal.inline.ratio", "x", lambda v: v <= 1.5, "<= 1.5x"),
    Target("same, thread executor", "core", "chatty_step_at_a_terminal.thread.ratio", "x",
           lambda v: v <= 1.5, "<= 1.5x"),
    Target("planning a 10,000-step random DAG", "core", "planning.curve.1.s", "s", lambda v: v < 1.0, "< 1 s"),
    Target("planning growth: us/step at largest / at 1,000", "core", "planning.growth", "x",
           lambda v: v <= 2.0, "<= 2x (linear)"),
    Target("cached rerun / first run (100 x 10 ms)", "cache", "ratio", "x", lambda v: v <= 0.15, "<= 0.15"),
    Target("100 steps x 10 files, run on the stat fast path / no files", "cache", "files.fast_path_run_ratio", "x",
           lambda v: v <= 1.3, "<= 1.3x"),
    Target("same, first run (every file hashed) / no files", "cache", "files.first_run_ratio", "x", None),
    Target("same, all-hit rerun / all-hit rerun without files", "cache", "files.rerun_ratio", "x", None),
    Target("same, cached rerun / first run, with files", "cache", "files.rerun_to_first_run_ratio", "x",
           lambda v: v <= 0.15, "<= 0.15"),
    Target("fingerprint cost per declared file (stat fast path)", "cache", "files.fingerprint_us_per_file", "us",
           None),
    Target("peak RSS of orch run, chain", "core", "memory.peak_rss_mb", "MB", None),
    Target("server key reads, requests/s", "server", "key_read.requests_per_s", "/s", None),
    Target("server key reads / bare ThreadingHTTPServer", "server", "key_read_to_bare_ratio", "x", None),
    Target("server: step finish -> SSE event, median", "server", "sse_step_finish_latency.median_ms", "ms", None),
)


def run_suite(name: str, quick: bool) -> dict[str, Any]:
    script = HERE / f"bench_{name}.py"
    if not script.exists():
        return {"skipped": f"{script.name} not present"}
    command = [sys.executable, str(script)] + (["--quick"] if quick else [])
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
    took = time.perf_counter() - started
    if done.returncode != 0:
        return {"failed": done.stderr.strip().splitlines()[-5:], "seconds": round(took, 1)}
    figures = json.loads(done.stdout)
    figures["seconds"] = round(took, 1)
    return figures


def lookup(figures: Any, path: str) -> float | None:
    for part in path.split("."):
        if isinstance(figures, list) and part.isdigit() and int(part) < len(figures):
            figures = figures[int(part)]
        elif isinstance(figures, dict) and part in figures:
            figures = figures[part]
        else:
            return None
    return figures if isinstance(figures, (int, float)) else None


def derive(results: dict[str, Any]) -> None:
    """Figures computed from others: the growth of planning time per step across sizes."""
    curve = results.get("core", {}).get("planning", {}).get("curve") or []
    if len(curve) >= 2 and curve[0]["us_per_step"]:
        results["core"]["planning"]["growth"] = round(curve[-1]["us_per_step"] / curve[0]["us_per_step"], 2)


def table(results: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    rows, verdicts = [], []
    width = max(len(t.label) for t in TARGETS)
    rows.append(f"{'figure':<{width}}  {'value':>10}  {'target':<16} verdict")
    for target in TARGETS:
        value = lookup(results.get(target.suite, {}), target.path)
        if value is None:
            verdict = "n/a"
            shown = "-"
        else:
            shown = f"{value:g} {target.unit}"
            verdict = "" if target.met is None else ("met" if target.met(value) else "NOT MET")
        verdicts.append({"figure": target.label, "value": value, "unit": target.unit,
                         "target": target.goal or None, "verdict": verdict or None})
        rows.append(f"{target.label:<{width}}  {shown:>10}  {target.goal:<16} {verdict}")
    return "\n".join(rows), verdicts


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(), "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (a smoke check)")
    parser.add_argument("--only", nargs="+", choices=SUITES, metavar="SUITE",
                        help=f"run only these suites ({', '.join(SUITES)})")
    parser.add_argument("--out", type=Path, default=HERE / "results.json", help="where to write the figures")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    for name in args.only or SUITES:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        results[name] = run_suite(name, args.quick)
        if "failed" in results[name]:
            print(f"bench: {name} FAILED:\n  " + "\n  ".join(results[name]["failed"]), file=sys.stderr)
    derive(results)
    text, verdicts = table(results)
    print(text)
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": args.quick,
        "machine": machine(), "verdicts": verdicts, "suites": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nbench: figures written to {args.out}", file=sys.stderr)
    return 1 if any("failed" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
