"""What the cache saves: 100 steps of 10 ms, run once (all misses), then rerun (all hits).

Each repeat starts from an empty state directory, so the first run really computes and
stores every step and the rerun really finds every one. The baseline is the first run
in the same repeat; the figure is the rerun's share of it (target: at most 15%).

    python bench/bench_cache.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_scriptlets  # noqa: E402

from orchestrator_core.config import Config  # noqa: E402
from orchestrator_core.pluginmanager import create_plugin_manager  # noqa: E402
from orchestrator_core.session import Session  # noqa: E402

TARGET_RATIO = 0.15


def cached_chain(path: Path, n: int, ms: int) -> Path:
    lines = ["name: cached", "steps:"]
    lines += [f"  - {{name: s{i}, uses: bench_busy, cache: true, params: {{ms: {ms}, tag: {i}}}}}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def timed_run(workdir: Path, recipe: Path) -> tuple[float, list[str | None]]:
    pm = create_plugin_manager(load_entrypoints=False, plugins=[bench_scriptlets])
    session = Session(Config(workdir=workdir, progress=False, stdout=io.StringIO()), pm=pm)
    loaded = session.load(recipe)
    start = time.perf_counter()
    result = session.run(loaded)
    elapsed = time.perf_counter() - start
    assert result.ok
    return elapsed, [r.cache for r in result.steps.values()]


def main(quick: bool = False, steps: int = 100, ms: int = 10) -> dict:
    repeats = 3 if quick else 5
    firsts, reruns = [], []
    with tempfile.TemporaryDirectory(prefix="orch-bench-cache-") as tmp:
        recipe = cached_chain(Path(tmp) / "cached.yaml", steps, ms)
        for repeat in range(repeats):
            workdir = Path(tmp) / f"repeat{repeat}"
            workdir.mkdir()
            first_s, first_cache = timed_run(workdir, recipe)
            rerun_s, rerun_cache = timed_run(workdir, recipe)
            assert set(first_cache) == {"miss"} and set(rerun_cache) == {"hit"}, (first_cache, rerun_cache)
            firsts.append(first_s)
            reruns.append(rerun_s)
    first, rerun = statistics.median(firsts), statistics.median(reruns)
    return {
        "steps": steps, "step_ms": ms,
        "first_run_s": round(first, 4), "cached_rerun_s": round(rerun, 4),
        "ratio": round(rerun / first, 3), "hit_us_per_step": round(rerun / steps * 1e6, 1),
        "target_ratio": TARGET_RATIO, "within_target": rerun / first <= TARGET_RATIO,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    print(json.dumps(main(args.quick), indent=2))
