"""Core figures: CLI start, per-step overhead, thread fan-out, parallel efficiency, planning, memory,
a chatty step at a terminal.

Every figure is measured next to its baseline in the same run and reported as a ratio
(medians over repeats), because the machines are noisy.
"""

from __future__ import annotations

import argparse
import fcntl
import io
import json
import os
import pty
import random
import statistics
import struct
import subprocess
import sys
import termios
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_scriptlets  # noqa: E402
from timing import median_time, median_times  # noqa: E402

from orchestrator_core.config import Config  # noqa: E402
from orchestrator_core.plugin.manager import create_plugin_manager  # noqa: E402
from orchestrator_core.run.session import Session  # noqa: E402


def orch_command() -> str:
    candidate = Path(sys.executable).parent / "orch"
    return str(candidate) if candidate.exists() else "orch"


def session(workdir: Path, **config) -> Session:
    """A session without the state store: its cost is measured on its own by bench_state."""
    pm = create_plugin_manager(load_entrypoints=False, plugins=[bench_scriptlets], blocked=("state",))
    return Session(Config(workdir=workdir, progress=False, stdout=io.StringIO(), **config), pm=pm)


def chain_recipe(path: Path, n: int, uses: str = "bench_noop") -> Path:
    lines = ["name: chain", "steps:"] + [f"  - {{name: s{i}, uses: {uses}}}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli_start(workdir: Path, repeats: int) -> dict:
    """Start-up as users see it: bytecode cached after a first run (so it is allowed here)."""
    env = dict(os.environ, PYTHONPATH=str(HERE))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    recipe = workdir / "one.yaml"
    recipe.write_text("steps:\n  - {name: one, type: python, module: bench_scriptlets, function: Noop}\n")
    run = lambda args: subprocess.run(args, cwd=workdir, env=env, capture_output=True, check=True)  # noqa: E731
    run([orch_command(), "run", "one.yaml", "--no-progress"])  # warm-up: writes the bytecode caches
    times = median_times({
        "baseline": lambda: run([sys.executable, "-c", "import click, yaml, pluggy"]),
        "version": lambda: run([orch_command(), "--version"]),
        "help": lambda: run([orch_command(), "--help"]),
        "one_step": lambda: run([orch_command(), "run", "one.yaml", "--no-progress"]),
    }, repeats)
    baseline, version, helptext, one_step = (times[k] for k in ("baseline", "version", "help", "one_step"))
    return {
        "baseline_s": round(baseline, 4), "version_s": round(version, 4), "help_s": round(helptext, 4),
        "run_one_step_s": round(one_step, 4),
        "version_ratio": round(version / baseline, 2), "run_one_step_ratio": round(one_step / baseline, 2),
    }


def per_step_overhead(workdir: Path, n: int, repeats: int) -> dict:
    recipe = chain_recipe(workdir / f"chain{n}.yaml", n)
    sess = session(workdir)
    loaded = sess.load(recipe)

    def framework():
        sess.run(loaded)

    def bare():
        instance = bench_scriptlets.Noop()
        for _ in range(n):
            instance.validate({}, {})
            instance.run({}, {})

    times = median_times({"run": framework, "bare": bare}, repeats)
    run_s, bare_s = times["run"], times["bare"]
    return {"steps": n, "run_s": round(run_s, 4), "bare_s": round(bare_s, 6),
            "overhead_us_per_step": round((run_s - bare_s) / n * 1e6, 1)}


def thread_fan_out(workdir: Path, n: int, repeats: int) -> dict:
    lines = ["name: fan", "steps:", "  - {name: root, uses: bench_noop}"]
    lines += [f"  - {{name: p{i}, uses: bench_parallel_noop, depends_on: [root]}}" for i in range(n)]
    lines += ["  - name: fan_in", "    uses: bench_noop", f"    depends_on: [{', '.join(f'p{i}' for i in range(n))}]"]
    recipe = workdir / "fan.yaml"
    recipe.write_text("\n".join(lines) + "\n")
    sess = session(workdir, workers=4)
    loaded = sess.load(recipe)

    def bare():
        noop = bench_scriptlets.Noop()
        noop.run({}, {})
        with ThreadPoolExecutor(4) as pool:
            wait([pool.submit(noop.run, {}, {}) for _ in range(n)])
        noop.run({}, {})

    times = median_times({"run": lambda: sess.run(loaded), "bare": bare}, repeats)
    run_s, bare_s = times["run"], times["bare"]
    return {"parallel_steps": n, "run_s": round(run_s, 4), "bare_s": round(bare_s, 4),
            "ratio": round(run_s / bare_s, 2)}


def parallel_efficiency(workdir: Path, repeats: int) -> dict:
    steps = "\n".join(f"  - {{name: n{i}, uses: bench_nap, depends_on: [], params: {{seconds: 0.2}}}}"
                      for i in range(8))
    recipe = workdir / "naps.yaml"
    recipe.write_text(f"steps:\n{steps}\n")
    sess = session(workdir, workers=4)
    loaded = sess.load(recipe)
    run_s = median_time(lambda: sess.run(loaded), repeats)
    return {"steps": 8, "workers": 4, "ideal_s": 0.4, "run_s": round(run_s, 4), "ratio_to_ideal": round(run_s / 0.4, 3)}


def random_dag(path: Path, n: int, rng: random.Random) -> Path:
    with path.open("w") as out:
        out.write("name: dag\nsteps:\n")
        for i in range(n):
            deps = sorted({f"s{rng.randrange(i)}" for _ in range(3)}) if i else []
            out.write(f"  - {{name: s{i}, uses: bench_noop, depends_on: [{', '.join(deps)}]}}\n")
    return path


def planning(workdir: Path, sizes: list[int]) -> dict:
    """Reading, validating and planning a recipe seen for the first time.

    The recipe cache is a folder of this run's own (``ORCH_CACHE_DIR``): the user's would
    answer for a size read by an earlier run of the benchmark and not for one too big to
    cache (~80,000 steps), and the curve would compare cached reads with parsed ones.
    """
    from orchestrator_core.recipe.plan import plan_order, select_steps

    rng = random.Random(42)
    sess = session(workdir)
    curve = []
    saved = os.environ.get("ORCH_CACHE_DIR")
    os.environ["ORCH_CACHE_DIR"] = str(workdir / "recipe-cache")
    try:
        for n in sizes:
            recipe = random_dag(workdir / f"dag{n}.yaml", n, rng)
            start = time.perf_counter()
            loaded = sess.load(recipe)
            sess.validate(loaded)
            select_steps(plan_order(loaded))
            elapsed = time.perf_counter() - start
            curve.append({"steps": n, "s": round(elapsed, 3), "us_per_step": round(elapsed / n * 1e6, 1)})
    finally:
        if saved is None:
            os.environ.pop("ORCH_CACHE_DIR", None)
        else:
            os.environ["ORCH_CACHE_DIR"] = saved
    return {"curve": curve}


def memory(workdir: Path, n: int) -> dict:
    recipe = chain_recipe(workdir / f"mem{n}.yaml", n)
    env = dict(os.environ, PYTHONPATH=str(HERE))
    script = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    recipe.write_text(recipe.read_text().replace("uses: bench_noop", "type: python, module: bench_scriptlets, function: Noop"))
    out = subprocess.run([sys.executable, "-c", script, orch_command(), "run", str(recipe), "--no-progress"],
                         cwd=workdir, env=env, capture_output=True, text=True, check=True)
    return {"steps": n, "peak_rss_mb": round(int(out.stdout.strip()) / 1024, 1)}


def run_at_a_terminal(args: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """Run ``args`` with stdin, stdout and stderr on a new 80-column pseudo-terminal, read until it
    closes: wall seconds and the process's CPU seconds (its children's included)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 80, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True)
    os.close(slave)
    try:
        while os.read(master, 65536):
            pass
    except OSError:  # EIO: every writer of the terminal is gone
        pass
    finally:
        os.close(master)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{args} exited with {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def chatty_step_at_a_terminal(workdir: Path, lines: int, repeats: int) -> dict:
    """``orch run`` of a step printing ``lines`` lines to stdout and as many to stderr, at a terminal:
    with the live bar against ``--no-progress``, medians of runs alternating between the two."""
    env = dict(os.environ, PYTHONPATH=str(HERE))
    figures = {"lines": 2 * lines}
    for executor in ("inline", "thread"):
        recipe = workdir / f"chatty_{executor}.yaml"
        recipe.write_text("steps:\n  - {name: chat, type: python, module: bench_scriptlets, function: Chatty, "
                          f"params: {{lines: {lines}}}}}\n")
        command = [orch_command(), "run", recipe.name, "--executor", executor]
        samples: dict[str, list[tuple[float, float]]] = {"bar": [], "no_progress": []}
        run_at_a_terminal(command, workdir, env)  # warm-up: bytecode, the recipe cache
        for _ in range(repeats):
            samples["bar"].append(run_at_a_terminal(command, workdir, env))
            samples["no_progress"].append(run_at_a_terminal(command + ["--no-progress"], workdir, env))
        wall = {mode: statistics.median(s[0] for s in runs) for mode, runs in samples.items()}
        cpu = {mode: statistics.median(s[1] for s in runs) for mode, runs in samples.items()}
        figures[executor] = {
            "bar_s": round(wall["bar"], 3), "no_progress_s": round(wall["no_progress"], 3),
            "ratio": round(wall["bar"] / wall["no_progress"], 2), "cpu_ratio": round(cpu["bar"] / cpu["no_progress"], 2),
        }
    return figures


def main(quick: bool = False) -> dict:
    repeats = 3 if quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        figures = {
            "cli_start": cli_start(workdir, repeats),
            "inline_chain": [per_step_overhead(workdir, n, 1 if n > 1000 else repeats)
                             for n in ([1000] if quick else [1000, 10000])],
            # ~30 ms a run: three times the repeats, or its median moves by ±0.3 from run to run
            "thread_fan_out": thread_fan_out(workdir, 200 if quick else 1000, 3 * repeats),
            "parallel_efficiency": parallel_efficiency(workdir, 2 if quick else 5),
            "planning": planning(workdir, [1000, 10000] if quick else [1000, 10000, 100000]),
            "memory": memory(workdir, 2000 if quick else 10000),
            "chatty_step_at_a_terminal": chatty_step_at_a_terminal(workdir, 2000, 3 if quick else 7),
        }
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller sizes")
    args = parser.parse_args()
    print(json.dumps(main(args.quick), indent=2))
