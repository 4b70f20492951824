"""What a ``--resume-from`` run costs to start, against a full run's start, with a long history.

A 1,000-step chain (each step writes one key) is recorded once for real, that run is
copied in SQL into a history of ``RUNS`` recorded runs, and the latest run is a real
``--resume-from`` run of the last tenth (so the steps before it are found in older
runs, the expensive case). Then, on the same session, alternating: planning a full
run from its file (read, validate, select: a full run's start) and planning
``--resume-from`` (the same, plus reading the recorded context). The ratio of the medians is the figure;
the same ratio with a tenth of the history says whether the history's length shows.

    python bench/bench_resume.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import sqlite3
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

STEPS = 1000
RUNS = 100
TARGET_RATIO = 1.5


def session(workdir: Path) -> Session:
    pm = create_plugin_manager(load_entrypoints=False, plugins=[bench_scriptlets])
    return Session(Config(workdir=workdir, progress=False, stdout=io.StringIO()), pm=pm)


def chain(path: Path, n: int) -> Path:
    lines = ["name: chain", "steps:"] + [f"  - {{name: s{i}, uses: bench_busy, params: {{ms: 0}}}}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def copy_history(state_db: Path, copies: int) -> None:
    """Copy every recorded run ``copies`` times, each copy started earlier than all the real runs."""
    with sqlite3.connect(state_db) as db:
        (original,) = db.execute("SELECT id FROM runs ORDER BY started LIMIT 1").fetchone()
        for n in range(1, copies + 1):
            new = f"{original}-copy{n}"
            db.execute("INSERT INTO runs (id, recipe, recipe_path, recipe_digest, started, finished, status, flags,"
                       " pid) SELECT ?, recipe, recipe_path, recipe_digest, started - ?, finished - ?, status,"
                       " flags, pid FROM runs WHERE id = ?", (new, 3600 * n, 3600 * n, original))
            db.execute("INSERT INTO step_results SELECT ?, step, status, error, duration_ms, cpu_ms, peak_rss_kb,"
                       " cache, attempts, executor, finished FROM step_results WHERE run = ?", (new, original))
            db.execute("INSERT INTO context_writes (run, key, value, who, step, ts, source_run, external, op)"
                       " SELECT ?, key, value, who, step, ts, source_run, external, op FROM context_writes"
                       " WHERE run = ?", (new, original))


def history(workdir: Path, runs: int) -> tuple[Session, object]:
    """A session whose store holds ``runs`` runs of the chain, the latest a ``--resume-from`` run."""
    workdir.mkdir(parents=True)
    sess = session(workdir)
    recipe = sess.load(chain(workdir / "chain.yaml", STEPS))
    assert sess.run(recipe).ok
    copy_history(workdir / ".orch" / "state.db", runs - 2)
    assert sess.run(recipe, resume_from=f"s{STEPS * 9 // 10}").ok
    return sess, recipe


def start_ratio(workdir: Path, runs: int, repeats: int) -> dict:
    sess, _ = history(workdir, runs)
    recipe = workdir / "chain.yaml"  # read at each start, as `orch run` does
    resume_from = f"s{STEPS * 9 // 10}"  # 900 upstream steps, none of them run by the latest run
    samples: dict[str, list[float]] = {"full": [], "resume": []}
    for _ in range(repeats):
        for kind in ("full", "resume"):
            start = time.perf_counter()
            run, _ = sess.plan(recipe, resume_from=resume_from if kind == "resume" else None)
            samples[kind].append(time.perf_counter() - start)
            assert len(run.plan) == (STEPS if kind == "full" else STEPS // 10)
    full, resume = (statistics.median(samples[k]) for k in ("full", "resume"))
    # What a resume adds, besides the ratio: the full start it is divided by is now a few ms,
    # so the ratio moves with that denominator's noise (docs/performance.md, "Resume start").
    return {"steps": STEPS, "recorded_runs": runs, "full_start_s": round(full, 4),
            "resume_start_s": round(resume, 4), "ratio": round(resume / full, 2),
            "added_us_per_recipe_step": round((resume - full) / STEPS * 1e6, 2)}


def main(quick: bool = False) -> dict:
    repeats = 7 if quick else 25
    with tempfile.TemporaryDirectory(prefix="orch-bench-resume-") as tmp:
        short = start_ratio(Path(tmp) / "short", RUNS // 10, repeats)
        long = start_ratio(Path(tmp) / "long", RUNS, repeats)
    return {
        "long_history": long,
        "short_history": short,
        # each ratio is to a full start measured alongside, so machine noise cancels out
        "history_growth": round(long["ratio"] / short["ratio"], 2),
        "target_ratio": TARGET_RATIO,
        "within_target": long["ratio"] <= TARGET_RATIO,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    print(json.dumps(main(args.quick), indent=2))
