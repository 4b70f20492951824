"""What the cache saves, and what fingerprinting the files steps read costs.

``ratio``: 100 steps of 10 ms, run once (all misses), then rerun (all hits). Each repeat
starts from an empty state directory, so the first run really computes and stores every
step and the rerun really finds every one. The baseline is the first run in the same
repeat; the figure is the rerun's share of it (target: at most 15%).

``files``: the same 100 cached steps, each declaring 10 files of its own (``files:``, 1,000
files of 64 KiB), against the same steps without files, in the same repeat: the first run
(every file hashed once), the cached rerun (every step a hit, every file only ``stat``ed:
the stat fast path, digests remembered in the state store) and a run with changed params
(every step runs again, its files only ``stat``ed). Target: that run at most 1.3x the same
run without files (``fast_path_run_ratio``); the all-hit rerun's ratio and the cost per
file are reported beside it.

    python bench/bench_cache.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_scriptlets  # noqa: E402

from orchestrator_core.config import Config  # noqa: E402
from orchestrator_core.plugin.manager import create_plugin_manager  # noqa: E402
from orchestrator_core.run.session import Session  # noqa: E402

TARGET_RATIO = 0.15
TARGET_FILES_RATIO = 1.3
FILES_PER_STEP = 10


def cached_chain(path: Path, n: int, ms: int, files: Path | None = None, round: int = 0) -> Path:
    """``n`` cached steps; with ``files``, step ``i`` declares ``files/i/0.dat`` ... ``files/i/9.dat``.

    Another ``round`` changes every step's params: every step misses and runs again.
    """
    lines = ["name: cached", "steps:"]
    for i in range(n):
        declared = ""
        if files is not None:
            declared = ", files: [" + ", ".join(str(files / str(i) / f"{j}.dat") for j in range(FILES_PER_STEP)) + "]"
        params = f"{{ms: {ms}, tag: {i}" + (f", round: {round}}}" if round else "}")
        lines.append(f"  - {{name: s{i}, uses: bench_busy, cache: true, params: {params}{declared}}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def input_files(root: Path, steps: int) -> Path:
    """``steps`` x 10 files of 64 KiB, dated a second back (outside the fast path's racy window)."""
    block = os.urandom(64 * 1024)
    stamp = time.time() - 1
    for i in range(steps):
        (root / str(i)).mkdir(parents=True)
        for j in range(FILES_PER_STEP):
            path = root / str(i) / f"{j}.dat"
            path.write_bytes(block + f"{i}.{j}".encode())
            os.utime(path, (stamp, stamp))
    time.sleep(0.2)  # the ctimes leave the racy window too
    return root


def timed_run(workdir: Path, recipe: Path) -> tuple[float, list[str | None]]:
    pm = create_plugin_manager(load_entrypoints=False, plugins=[bench_scriptlets])
    session = Session(Config(workdir=workdir, progress=False, stdout=io.StringIO()), pm=pm)
    loaded = session.load(recipe)
    start = time.perf_counter()
    result = session.run(loaded)
    elapsed = time.perf_counter() - start
    assert result.ok
    return elapsed, [r.cache for r in result.steps.values()]


def three_runs(tmp: Path, name: str, recipe: Path, next_round: Path) -> tuple[float, float, float]:
    """The first run (all misses), the rerun (all hits), then a run whose params changed (all misses
    again, its files already known: the stat fast path in a run that does its work)."""
    workdir = tmp / name
    workdir.mkdir()
    first_s, first_cache = timed_run(workdir, recipe)
    rerun_s, rerun_cache = timed_run(workdir, recipe)
    again_s, again_cache = timed_run(workdir, next_round)
    assert set(first_cache) == set(again_cache) == {"miss"} and set(rerun_cache) == {"hit"}, (
        first_cache, rerun_cache, again_cache)
    return first_s, rerun_s, again_s


def main(quick: bool = False, steps: int = 100, ms: int = 10) -> dict:
    repeats = 3 if quick else 5
    plain: list[tuple[float, float, float]] = []
    with_files: list[tuple[float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="orch-bench-cache-") as name:
        tmp = Path(name)
        recipe, again = (cached_chain(tmp / f"cached{r}.yaml", steps, ms, round=r) for r in (0, 1))
        inputs = input_files(tmp / "inputs", steps)
        files_recipe, files_again = (cached_chain(tmp / f"files{r}.yaml", steps, ms, inputs, r) for r in (0, 1))
        for repeat in range(repeats):  # interleaved, so both see the same machine
            plain.append(three_runs(tmp, f"plain{repeat}", recipe, again))
            with_files.append(three_runs(tmp, f"files{repeat}", files_recipe, files_again))
    first, rerun, worked = (statistics.median(p[i] for p in plain) for i in (0, 1, 2))
    files_first, files_rerun, files_worked = (statistics.median(p[i] for p in with_files) for i in (0, 1, 2))
    return {
        "steps": steps, "step_ms": ms,
        "first_run_s": round(first, 4), "cached_rerun_s": round(rerun, 4),
        "ratio": round(rerun / first, 3), "hit_us_per_step": round(rerun / steps * 1e6, 1),
        "target_ratio": TARGET_RATIO, "within_target": rerun / first <= TARGET_RATIO,
        "files": {
            "files_per_step": FILES_PER_STEP, "file_kib": 64,
            "first_run_s": round(files_first, 4), "cached_rerun_s": round(files_rerun, 4),
            "changed_params_run_s": round(files_worked, 4),
            "first_run_ratio": round(files_first / first, 3),
            "fast_path_run_ratio": round(files_worked / worked, 3),
            "rerun_ratio": round(files_rerun / rerun, 3),
            "fingerprint_us_per_file": round((files_rerun - rerun) / (steps * FILES_PER_STEP) * 1e6, 2),
            "rerun_to_first_run_ratio": round(files_rerun / files_first, 3),
            "target_ratio": TARGET_FILES_RATIO,
            "within_target": files_worked / worked <= TARGET_FILES_RATIO,
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    print(json.dumps(main(args.quick), indent=2))
