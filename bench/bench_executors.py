"""Executor figures: per-step overhead of inline, thread, process and dask, and the process speed-up.

Each figure is measured next to the raw library doing the same work in the same run
(a bare ``ThreadPoolExecutor``, ``ProcessPoolExecutor``, ``client.submit``), with the
same set-up cost on both sides (a pool started, a client connected), and reported as
medians over repeats and as ratios, because the machines are noisy.

    python bench/bench_executors.py [--quick]

``main(quick) -> dict`` returns the figures for ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, wait
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # worker processes import this module to find its scriptlets

from orchestrator_core import BaseScriptlet, hookimpl  # noqa: E402
from timing import median_times  # noqa: E402
from orchestrator_core.config import Config  # noqa: E402
from orchestrator_core.plugin.manager import create_plugin_manager  # noqa: E402
from orchestrator_core.run.session import Session  # noqa: E402

WORKERS = 2


# -- the work ----------------------------------------------------------------------------------
def noop() -> None:
    """The raw libraries' task: nothing, so what is measured is the machinery."""


def burn(iterations: int) -> int:
    """CPU-bound pure Python: the same work in a scriptlet and in the raw pool."""
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


class Noop(BaseScriptlet):
    name = "bex_noop"
    parallelizable = True

    def run(self, ctx, params):
        return None


class Burn(BaseScriptlet):
    """CPU work; steps side by side each add their count (an accumulating write, no lost value)."""

    name = "bex_burn"
    outputs = ()
    accumulates = ("bench.burn_v1",)
    parallelizable = True

    def run(self, ctx, params):
        ctx.append("bench.burn_v1", burn(params["iterations"]))


@hookimpl
def orch_register_scriptlets():
    return [Noop, Burn]


# -- helpers -----------------------------------------------------------------------------------
def forkserver():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def session(workdir: Path, executor: str, in_flight: int = WORKERS, **options) -> Session:
    """A session with the process and dask plugins and this module's scriptlets.

    ``in_flight`` is the run's ``--workers``: how many steps the runner keeps submitted.
    """
    import orchestrator_dask.plugin
    import orchestrator_process.plugin

    this = sys.modules[__name__]
    pm = create_plugin_manager(load_entrypoints=False,
                               plugins=[orchestrator_process.plugin, orchestrator_dask.plugin, this])
    config = Config(workdir=workdir, progress=False, stdout=io.StringIO(), workers=in_flight, executor=executor,
                    options=dict(options, process_workers=WORKERS))
    return Session(config, pm=pm)


def recipe(path: Path, uses: str, count: int, params: str = "{}") -> Path:
    steps = [f"  - {{name: s{i}, uses: {uses}, depends_on: [], params: {params}}}" for i in range(count)]
    path.write_text("name: bench\nsteps:\n" + "\n".join(steps) + "\n")
    return path


def run_figures(run_s: float, raw_s: float, steps: int) -> dict:
    return {"run_s": round(run_s, 4), "raw_s": round(raw_s, 4), "ratio": round(run_s / raw_s, 2),
            "overhead_us_per_step": round((run_s - raw_s) / steps * 1e6, 1)}


# -- the figures -------------------------------------------------------------------------------
def per_step_overhead(workdir: Path, steps: int, repeats: int, scheduler: str) -> dict:
    """Independent no-op steps through each executor, against the raw library doing the same.

    The raw pools get every task at once and throttle them themselves; so do the process
    pool and the cluster here (the runner keeps all steps in flight), while the thread
    executor's pool is as large as the steps in flight, so it keeps the default of two.
    """
    path = recipe(workdir / "noops.yaml", "bex_noop", steps)

    def orch(executor: str, in_flight: int = WORKERS, **options):
        sess = session(workdir, executor, in_flight, **options)
        loaded = sess.load(path)
        return lambda: sess.run(loaded)

    def raw_inline():
        scriptlet = Noop()
        for _ in range(steps):
            scriptlet.validate({}, {})
            scriptlet.run({}, {})

    def raw_thread():
        with ThreadPoolExecutor(WORKERS) as pool:
            wait([pool.submit(noop) for _ in range(steps)])

    def raw_process():
        with ProcessPoolExecutor(WORKERS, mp_context=forkserver()) as pool:
            wait([pool.submit(noop) for _ in range(steps)])

    def raw_dask():
        from distributed import Client

        with Client(scheduler, timeout=10) as client:
            client.gather([client.submit(noop, pure=False) for _ in range(steps)])

    cases = {
        "inline": (orch("inline"), raw_inline),
        "thread": (orch("thread"), raw_thread),
        "process": (orch("process", steps), raw_process),
        "dask": (orch("dask", steps, dask_scheduler=scheduler), raw_dask),
    }
    figures = {}
    for name, (framework, raw) in cases.items():
        framework()  # warm-up: imports, the fork server, the cluster's first tasks
        raw()
        times = median_times({"framework": framework, "raw": raw}, repeats)
        figures[name] = {"steps": steps, **run_figures(times["framework"], times["raw"], steps)}
    return figures


def calibrate(seconds: float) -> int:
    """Iterations of :func:`burn` that take about ``seconds`` here."""
    start = time.perf_counter()
    burn(200_000)
    return int(200_000 * seconds / (time.perf_counter() - start))


def process_speedup(workdir: Path, steps: int, seconds: float, repeats: int) -> dict:
    """``steps`` CPU-bound steps on the process executor against inline, and the raw pool's speed-up."""
    iterations = calibrate(seconds)
    path = recipe(workdir / "burn.yaml", "bex_burn", steps, f"{{iterations: {iterations}}}")
    inline, on_process = session(workdir, "inline"), session(workdir, "process", steps)
    loaded = inline.load(path)

    def raw_sequential():
        for _ in range(steps):
            burn(iterations)

    def raw_pool():
        with ProcessPoolExecutor(WORKERS, mp_context=forkserver()) as pool:
            list(pool.map(burn, [iterations] * steps))

    times = median_times({"inline": lambda: inline.run(loaded), "process": lambda: on_process.run(loaded),
                          "sequential": raw_sequential, "pool": raw_pool}, repeats)
    inline_s, process_s, sequential_s, pool_s = (times[k] for k in ("inline", "process", "sequential", "pool"))
    orch_speedup, raw_speedup = inline_s / process_s, sequential_s / pool_s
    return {
        "steps": steps, "workers": WORKERS, "cpus": os.cpu_count(), "step_s": seconds,
        "inline_s": round(inline_s, 3), "process_s": round(process_s, 3), "speedup": round(orch_speedup, 2),
        "raw_sequential_s": round(sequential_s, 3), "raw_pool_s": round(pool_s, 3),
        "raw_speedup": round(raw_speedup, 2), "speedup_vs_raw": round(orch_speedup / raw_speedup, 3),
    }


def main(quick: bool = False) -> dict:
    from distributed import LocalCluster

    repeats = 3 if quick else 5
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=":0") as cluster:
        workdir = Path(tmp)
        return {
            "per_step": per_step_overhead(workdir, 100 if quick else 200, repeats, cluster.scheduler_address),
            "process_speedup": process_speedup(workdir, 4, 0.15 if quick else 0.5, repeats),
        }


def table(figures: dict) -> str:
    rows = ["executor   steps   run s    raw s   ratio   overhead µs/step"]
    for name, f in figures["per_step"].items():
        rows.append(f"{name:<9} {f['steps']:>6} {f['run_s']:>7.3f} {f['raw_s']:>8.4f} {f['ratio']:>7.2f}"
                    f" {f['overhead_us_per_step']:>12.1f}")
    s = figures["process_speedup"]
    rows.append("")
    rows.append(f"{s['steps']} CPU-bound steps of ~{s['step_s']} s on {s['workers']} workers ({s['cpus']} CPUs):")
    rows.append(f"  orch    inline {s['inline_s']:.3f} s, process {s['process_s']:.3f} s -> speed-up {s['speedup']:.2f}")
    rows.append(f"  raw     sequential {s['raw_sequential_s']:.3f} s, ProcessPoolExecutor {s['raw_pool_s']:.3f} s"
                f" -> speed-up {s['raw_speedup']:.2f}")
    rows.append(f"  orch speed-up / raw speed-up: {s['speedup_vs_raw']:.3f}")
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller sizes")
    args = parser.parse_args()
    import bench_executors  # the scriptlets by their module name, so worker processes find them

    results = bench_executors.main(args.quick)
    print(bench_executors.table(results), file=sys.stderr)
    print(json.dumps(results, indent=2))
