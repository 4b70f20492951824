"""orch next to the tools a user would pick instead: doit and a stdlib floor, whole processes, one run.

    python bench/peers.py                # the table (a few minutes; needs PyPI for the venvs)
    python bench/peers.py --runs 3       # fewer timed runs per figure
    python bench/peers.py --json out.json

Each tool gets its own virtual environment, made here and kept in ``--venvs`` (default
``~/.cache/orch-bench-peers``) so later runs reuse it: orch installed from wheels built from
this checkout (not editable, as users install it; rebuilt at every run), doit from PyPI. The
stdlib floor is ``graphlib`` plus a ``concurrent.futures`` pool in one short script, run by the
orch venv's Python. Every timed run starts in a fresh directory, so every tool starts with an
empty state store, as doit starts with an empty ``.doit.db``; figures are medians of
``--runs`` runs after one warm-up (which writes the bytecode caches), the tools taking turns
run by run so the drifting load of a shared machine falls on all of them alike
(``--statistic min`` for the least-disturbed run instead).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTIONS = [ROOT, *sorted((ROOT / "plugins").glob("orchestrator_*"))]
TOOLS = ("floor", "doit", "orch")
CPU_SECONDS = 0.5

# One module the three tools share: the work itself, so only the tool around it differs.
TASKS = '''
import time

def noop():
    return None

def nap(seconds):
    time.sleep(seconds)

def burn(seconds):
    end = time.process_time() + seconds
    n = 0
    while time.process_time() < end:
        n += 1

try:
    from orchestrator_core import BaseScriptlet
except ImportError:
    BaseScriptlet = object

class Noop(BaseScriptlet):
    name = "peer_noop"
    outputs = ()
    def run(self, ctx, params):
        noop()

class ParallelNoop(Noop):
    name = "peer_parallel_noop"
    parallelizable = True

class Nap(Noop):
    name = "peer_nap"
    parallelizable = True
    def run(self, ctx, params):
        nap(params["seconds"])

class Burn(Noop):
    name = "peer_burn"
    requires_process = True
    def run(self, ctx, params):
        burn(params["seconds"])
'''

# The floor: what any tool has to do at least (plan a DAG, run it on a pool), in the stdlib.
FLOOR = '''
import graphlib, json, os, sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
import peer_tasks

spec = json.load(open(sys.argv[1]))
done_file = "floor_done.json"
done = set(json.load(open(done_file))) if spec.get("cached") and os.path.exists(done_file) else set()
graph = graphlib.TopologicalSorter({t["name"]: t["deps"] for t in spec["tasks"]})
tasks = {t["name"]: t for t in spec["tasks"]}
pool_class = ProcessPoolExecutor if spec.get("processes") else ThreadPoolExecutor
with pool_class(spec["workers"]) as pool:
    graph.prepare()
    running = {}
    while graph.is_active():
        for name in graph.get_ready():
            if name in done:
                graph.done(name)
                continue
            task = tasks[name]
            running[pool.submit(getattr(peer_tasks, task["fn"]), *task["args"])] = name
        if running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()
                name = running.pop(future)
                done.add(name)
                graph.done(name)
if spec.get("cached"):
    json.dump(sorted(done), open(done_file, "w"))
'''

DODO = '''
import json
import peer_tasks

SPEC = json.load(open("spec.json"))

def task_peer():
    for task in SPEC["tasks"]:
        entry = {"name": task["name"], "actions": [(getattr(peer_tasks, task["fn"]), task["args"])],
                 "task_dep": [f"peer:{dep}" for dep in task["deps"]], "verbosity": 0}
        if SPEC.get("cached"):
            entry["uptodate"] = [True]
        yield entry
'''


@dataclass(frozen=True)
class Workload:
    """A DAG of tasks: each a function of ``peer_tasks`` with its args and the tasks it needs."""

    tasks: list[dict]
    workers: int = 1
    processes: bool = False
    cached: bool = False


def chain(n: int, **options) -> Workload:
    return Workload([{"name": f"t{i}", "fn": "noop", "args": [], "deps": [f"t{i - 1}"] if i else []}
                     for i in range(n)], **options)


def fan(width: int, workers: int) -> Workload:
    tasks = [{"name": "root", "fn": "noop", "args": [], "deps": []}]
    tasks += [{"name": f"m{i}", "fn": "noop", "args": [], "deps": ["root"]} for i in range(width)]
    tasks += [{"name": "sink", "fn": "noop", "args": [], "deps": [f"m{i}" for i in range(width)]}]
    return Workload(tasks, workers=workers)


def independent(fn: str, count: int, args: list, workers: int, processes: bool = False) -> Workload:
    return Workload([{"name": f"{fn}{i}", "fn": fn, "args": args, "deps": []} for i in range(count)],
                    workers=workers, processes=processes)


def orch_recipe(work: Workload) -> str:
    """The same DAG as an orch recipe (module/function form, as guide §24 writes it)."""
    lines = ["name: peers", "steps:"]
    classes = {"noop": "Noop", "nap": "Nap", "burn": "Burn"}
    for task in work.tasks:
        # The fan's middle tasks may run side by side, as they do in the other tools.
        cls = "ParallelNoop" if task["deps"] == ["root"] else classes[task["fn"]]
        params = {"seconds": task["args"][0]} if task["args"] else {}
        step = {"name": task["name"], "type": "python", "module": "peer_tasks", "function": cls,
                "depends_on": task["deps"], "params": params}
        if work.cached:
            step["cache"] = True
        lines.append("  - " + json.dumps(step))
    return "\n".join(lines) + "\n"


class Venvs:
    """The tools' virtual environments, made once and reused."""

    def __init__(self, root: Path):
        self.root = root

    def python(self, tool: str) -> Path:
        return self.root / tool / "bin" / "python"

    def command(self, tool: str, name: str) -> str:
        return str(self.root / tool / "bin" / name)

    def ensure(self) -> None:
        for tool in ("doit", "orch"):
            if not self.python(tool).exists():
                print(f"peers: making the {tool} venv in {self.root / tool}", file=sys.stderr)
                subprocess.run([sys.executable, "-m", "venv", str(self.root / tool)], check=True)
        if not (self.root / "doit" / "bin" / "doit").exists():
            self.pip("doit", "install", "-q", "doit")
        wheels = self.root / "wheels"
        shutil.rmtree(wheels, ignore_errors=True)
        print("peers: building orch's wheels from this checkout", file=sys.stderr)
        self.pip("orch", "install", "-q", "build", "hatchling")
        for dist in DISTRIBUTIONS:
            self.pip("orch", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(dist))
        self.pip("orch", "install", "-q", "--force-reinstall", "--no-deps", *map(str, wheels.glob("*.whl")))
        self.pip("orch", "install", "-q", *map(str, wheels.glob("*.whl")))

    def pip(self, tool: str, *args: str) -> None:
        done = subprocess.run([str(self.python(tool)), "-m", "pip", *args], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"peers: pip {' '.join(args[:2])} failed in the {tool} venv:\n{done.stderr[-3000:]}")


class Bench:
    """Times whole processes of the three tools on one workload, each run in a fresh directory."""

    def __init__(self, venvs: Venvs, scratch: Path, runs: int, statistic: Callable[[list[float]], float]):
        self.venvs, self.scratch, self.runs, self.statistic = venvs, scratch, runs, statistic
        self.count = 0

    def _fresh_dir(self, work: Workload, tool: str) -> Path:
        self.count += 1
        path = self.scratch / f"{tool}-{self.count}"
        path.mkdir()
        (path / "peer_tasks.py").write_text(TASKS)
        spec = {"tasks": work.tasks, "workers": work.workers, "processes": work.processes, "cached": work.cached}
        (path / "spec.json").write_text(json.dumps(spec))
        (path / "floor.py").write_text(FLOOR)
        (path / "dodo.py").write_text(DODO)
        (path / "recipe.yaml").write_text(orch_recipe(work))
        return path

    def argv(self, tool: str, work: Workload) -> list[str]:
        if tool == "floor":
            return [str(self.venvs.python("orch")), "floor.py", "spec.json"]
        if tool == "doit":
            parallel = ["-n", str(work.workers), "-P", "process" if work.processes else "thread"]
            return [self.venvs.command("doit", "doit"), *(parallel if work.workers > 1 else [])]
        options = ["--no-progress", "--workers", str(work.workers)]
        if work.processes:
            options += ["--process-workers", str(work.workers)]
        return [self.venvs.command("orch", "orch"), "run", "recipe.yaml", *options]

    def _once(self, tool: str, work: Workload, warm: bool, env: dict[str, str]) -> float:
        """Whole-process seconds of one run in a fresh directory (``warm``: run there once before)."""
        where = self._fresh_dir(work, tool)
        try:
            if warm:
                subprocess.run(self.argv(tool, work), cwd=where, env=env, capture_output=True, check=True)
            start = time.perf_counter()
            done = subprocess.run(self.argv(tool, work), cwd=where, env=env, capture_output=True)
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(f"peers: {tool} failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
            return elapsed
        finally:
            shutil.rmtree(where, ignore_errors=True)

    def medians(self, cases: dict[str, tuple[str, Workload, bool]]) -> dict[str, float]:
        """Median whole-process seconds of each case ``name -> (tool, workload, warm)``.

        The cases take turns, one run each per round, after a first round that warms the
        bytecode caches: on a loaded machine the load drifts over seconds, and taking
        turns spreads the drift over every tool instead of charging it to whichever ran
        last (measured one after the other, a difference of two medians could even come
        out negative).
        """
        env = dict(os.environ, PYTHONPATH=".")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for round_ in range(self.runs + 1):
            for name, (tool, work, warm) in cases.items():
                elapsed = self._once(tool, work, warm, env)
                if round_:  # the first round is the warm-up
                    samples[name].append(elapsed)
        return {name: self.statistic(values) for name, values in samples.items()}

    def each(self, work: Workload, warm: bool = False) -> dict[str, float]:
        """Median seconds of ``work`` for each tool, the tools taking turns."""
        return self.medians({tool: (tool, work, warm) for tool in TOOLS})


def figures(bench: Bench, venvs: Venvs, quick: bool) -> list[tuple[str, dict[str, float], str]]:
    """(label, {tool: value}, unit) rows, in the order of the table."""
    rows = []
    one = bench.each(chain(1))
    rows.append(("one no-op task, whole process", one, "s"))
    short, long_ = (20, 200) if quick else (100, 1000)
    chains = bench.medians({f"{tool} {n}": (tool, chain(n), False) for tool in TOOLS for n in (short, long_)})
    per = {tool: (chains[f"{tool} {long_}"] - chains[f"{tool} {short}"]) / (long_ - short) for tool in TOOLS}
    rows.append((f"chain of {long_:,} no-op tasks, per task", {k: v * 1000 for k, v in per.items()}, "ms"))
    width = 50 if quick else 200
    fanned = bench.medians({f"{tool} {kind}": (tool, work, False) for tool in TOOLS
                            for kind, work in (("one", chain(1)), ("fan", fan(width, 4)))})
    rows.append((f"fan 1 -> {width} -> 1, 4 workers, over the one-task run",
                 {tool: fanned[f"{tool} fan"] - fanned[f"{tool} one"] for tool in TOOLS}, "s"))
    rows.append(("8 x 0.2 s sleeps, 4 workers (ideal 0.4 s)", bench.each(independent("nap", 8, [0.2], 4)), "s"))
    seconds = CPU_SECONDS / 5 if quick else CPU_SECONDS
    burns = bench.medians({f"{tool} {n}": (tool, independent("burn", 4, [seconds], n, processes=True), False)
                           for tool in TOOLS for n in (1, 2)})
    speedup = {tool: burns[f"{tool} 1"] / burns[f"{tool} 2"] for tool in TOOLS}
    rows.append((f"4 CPU tasks of {seconds} s, speed-up 1 -> 2 processes", speedup, "x"))
    cached = bench.each(chain(100, cached=True), warm=True)
    rows.append(("100-task chain, everything cached, whole process", cached, "s"))
    version = _median_commands({"floor": [str(venvs.python("orch")), "-c", "import click, yaml, pluggy"],
                                "doit": [venvs.command("doit", "doit"), "--version"],
                                "orch": [venvs.command("orch", "orch"), "--version"]}, bench.runs, bench.statistic)
    rows.append(("--version (floor: import click, yaml, pluggy)", version, "s"))
    return rows


def _median_commands(commands: dict[str, list[str]], runs: int,
                     statistic: Callable[[list[float]], float] = statistics.median) -> dict[str, float]:
    """Seconds of each command (``statistic`` of the runs), the commands taking turns after one warm-up round."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True)
            if round_:
                samples[name].append(time.perf_counter() - start)
    return {name: statistic(values) for name, values in samples.items()}


def table(rows: list[tuple[str, dict[str, float], str]]) -> str:
    lines = ["| workload | stdlib floor | doit | orch | orch / doit |", "|---|---|---|---|---|"]
    for label, values, unit in rows:
        cells = [f"{values[tool]:.3f} {unit}" for tool in TOOLS]
        # For a speed-up, more is better: the ratio is doit's over orch's so <= 1.0 still means "orch wins".
        ratio = values["doit"] / values["orch"] if unit == "x" else values["orch"] / values["doit"]
        lines.append(f"| {label} | {' | '.join(cells)} | {ratio:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure, after one warm-up (default 5)")
    parser.add_argument("--venvs", type=Path, default=Path.home() / ".cache" / "orch-bench-peers",
                        help="where the tools' virtual environments are made and kept")
    parser.add_argument("--quick", action="store_true", help="smaller workloads: a smoke check of the harness")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--statistic", choices=("median", "min"), default="median",
                        help="how the runs of a figure are summed up (default median; on a loaded machine the "
                             "minimum is the steadier estimate of what a run costs, since load only adds time)")
    args = parser.parse_args()
    venvs = Venvs(args.venvs)
    venvs.ensure()
    with tempfile.TemporaryDirectory(prefix="orch-peers-") as scratch:
        statistic = min if args.statistic == "min" else statistics.median
        rows = figures(Bench(venvs, Path(scratch), args.runs, statistic), venvs, args.quick)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([{"workload": label, "unit": unit, **values} for label, values, unit in rows],
                                        indent=2))


if __name__ == "__main__":
    main()
