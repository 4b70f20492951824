"""What recording state costs per step: a 1,000-step chain with and without the state store.

The same chain runs in-process on two sessions that differ only in the built-in
``state`` plugin (blocked in one, as ``-p no:state`` does); the repeats alternate
between them so both see the same machine noise, and the medians are compared.
Two chains: no-op steps (the store's fixed cost: one transaction per step) and steps
that each write one key (plus the write's row).

    python bench/bench_state.py [--quick]
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

TARGET_US_PER_STEP = 100.0


def session(workdir: Path, *, store: bool) -> Session:
    pm = create_plugin_manager(load_entrypoints=False, plugins=[bench_scriptlets],
                               blocked=() if store else ("state",))
    assert pm.has_plugin("state") is store
    return Session(Config(workdir=workdir, progress=False, stdout=io.StringIO()), pm=pm)


def chain(path: Path, n: int, uses: str, params: str = "{}") -> Path:
    lines = ["name: chain", "steps:"] + [f"  - {{name: s{i}, uses: {uses}, params: {params}}}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def compare(workdir: Path, n: int, repeats: int, uses: str, params: str = "{}") -> dict:
    """Median µs per step of the chain with and without the store, and their ratio."""
    recipe = chain(workdir / f"{uses}.yaml", n, uses, params)
    sessions = {store: session(workdir / ("with" if store else "without"), store=store) for store in (True, False)}
    loaded = {store: s.load(recipe) for store, s in sessions.items()}
    samples: dict[bool, list[float]] = {True: [], False: []}
    for store in (True, False):  # warm-up: imports, the database file, caches
        sessions[store].run(loaded[store])
    for _ in range(repeats):
        for store in (False, True):
            start = time.perf_counter()
            result = sessions[store].run(loaded[store])
            samples[store].append(time.perf_counter() - start)
            assert result.ok and len(result.steps) == n
    with_us = statistics.median(samples[True]) / n * 1e6
    without_us = statistics.median(samples[False]) / n * 1e6
    return {
        "steps": n,
        "with_store_us_per_step": round(with_us, 1),
        "without_store_us_per_step": round(without_us, 1),
        "store_cost_us_per_step": round(with_us - without_us, 1),
        "ratio": round(with_us / without_us, 2),
    }


def watched(workdir: Path, n: int, repeats: int) -> dict:
    """The no-op chain with the store while a server watches it (every step event journaled)."""
    from orchestrator_core.state import listeners

    recipe = chain(workdir / "watched.yaml", n, "bench_noop")
    sess = session(workdir / "watched", store=True)
    loaded = sess.load(recipe)
    marker = listeners.register(workdir / "watched" / ".orch", 0)  # this process stands for the server
    try:
        sess.run(loaded)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            sess.run(loaded)
            samples.append(time.perf_counter() - start)
    finally:
        listeners.unregister(marker)
    return {"steps": n, "with_store_and_journal_us_per_step": round(statistics.median(samples) / n * 1e6, 1)}


def store_bytes(state_db: Path) -> int:
    """Bytes the database holds once its write-ahead log is folded in."""
    with sqlite3.connect(state_db) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, page_size, free = (db.execute(f"PRAGMA {p}").fetchone()[0]
                                  for p in ("page_count", "page_size", "freelist_count"))
    return (pages - free) * page_size


def history_bytes_per_write(workdir: Path, n: int) -> dict:
    """Growth of the store per recorded context write (a small integer value and its key)."""
    recipe = chain(workdir / "history.yaml", n, "bench_busy", "{ms: 0}")
    sess = session(workdir / "history", store=True)
    loaded = sess.load(recipe)
    sess.run(loaded)  # creates the database and its tables
    state_db = workdir / "history" / ".orch" / "state.db"
    before = store_bytes(state_db)
    sess.run(loaded)
    grown = store_bytes(state_db) - before
    return {"writes": n, "bytes_per_write_with_its_step_row": round(grown / n, 1)}


def main(quick: bool = False) -> dict:
    repeats = 3 if quick else 7
    n = 1000
    with tempfile.TemporaryDirectory(prefix="orch-bench-state-") as tmp:
        workdir = Path(tmp)
        noop = compare(workdir, n, repeats, "bench_noop")
        writing = compare(workdir, n, repeats, "bench_busy", "{ms: 0}")
        history = history_bytes_per_write(workdir, n)
        journal = watched(workdir, n, repeats)
    return {
        "history": history,
        "watched_noop_chain": journal,
        "noop_chain": noop,
        "one_write_per_step_chain": writing,
        "target_us_per_step": TARGET_US_PER_STEP,
        "within_target": noop["with_store_us_per_step"] <= TARGET_US_PER_STEP,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    print(json.dumps(main(args.quick), indent=2))
