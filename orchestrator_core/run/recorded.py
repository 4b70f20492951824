"""Recorded runs read back: a run of the state store as the same ``Run`` object hooks see during a run.

A public service of the core, for commands and plugins that work on finished runs
(``orch report`` hands the result to ``orch_report(run, out_dir)``): the step
results, the context replayed write by write (so each key keeps who wrote it), and
the recipe read again from its file. When that file is gone or no longer reads as
a recipe, the plan's steps stand in for it (without their dependencies), and
``run.notes`` says so; when it changed since the run, a note says that too.

:func:`read_run` is the one-call form; :func:`open_store`, :func:`find_run` and
:func:`load_run` serve a command that reads several runs of one store. The store
(:class:`StateStore`) and its run rows (:class:`RunRecord`) are re-exported here,
so a plugin never imports ``orchestrator_core.state``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from orchestrator_core.run.context import Context
from orchestrator_core.errors import OrchError, UsageError
from orchestrator_core.model import Recipe, Step, StepResult, Write
from orchestrator_core.run.state import Run
from orchestrator_core.state.store import RunRecord, StateStore

__all__ = ["RunRecord", "StateStore", "find_run", "load_run", "open_store", "read_run"]


def open_store(state_dir: str | Path) -> StateStore:
    """The state store in ``state_dir`` for reading; a :class:`UsageError` (exit 2) when no run was recorded there."""
    return StateStore.open_recorded(state_dir)


def read_run(session: Any, reference: str = "latest") -> Run:
    """The run ``reference`` names (id, unique prefix, ``latest``) in ``session.config.state_dir``, rebuilt."""
    store = open_store(session.config.state_dir)
    try:
        return load_run(store, find_run(store, reference), session)
    finally:
        store.close()


def find_run(store: StateStore, reference: str) -> RunRecord:
    """The run ``reference`` names (id, unique prefix, ``latest``), with a hint when there is none."""
    if reference == "latest" and not store.runs(limit=1):
        raise UsageError(f"the state store {store.path} holds no run yet (run a recipe first: orch run RECIPE)")
    return store.get_run(reference)


def load_run(store: StateStore, record: RunRecord, session: Any) -> Run:
    """Rebuild the run ``record`` describes, with ``session``'s configuration; notes for its reader on ``run.notes``."""
    config = session.config
    recipe, notes = _recipe(record, session)
    by_name = {step.name: step for step in recipe.steps}
    plan_names = record.flags.get("plan") or [row["step"] for row in store.step_results(record.id)]
    plan = [by_name.get(name) or Step(name, len(by_name) + i) for i, name in enumerate(plan_names)]
    context = Context(run_id=record.id, data_dir=config.data_dir, workdir=config.workdir)
    for write in store.writes(record.id):
        context.record(Write(write["key"], write["value"], write["who"], write["step"], write["run"], write["ts"]))
    results = {}
    started = _step_starts(store, record.id)
    for row in store.step_results(record.id):
        metrics = {name: row[name] for name in ("duration_ms", "cpu_ms", "peak_rss_kb") if row[name] is not None}
        metrics["finished_at"] = row["finished"]  # when, for the report's timeline
        metrics["started_at"] = started.get(row["step"], row["finished"] - (row["duration_ms"] or 0) / 1000)
        results[row["step"]] = StepResult(row["step"], row["status"], metrics=metrics, error=row["error"],
                                          cache=row["cache"], attempts=row["attempts"] or 1,
                                          executor=row["executor"])
    run = Run(recipe, plan, config, context, id=record.id, flags=dict(record.flags), results=results,
              status=record.shown_status, started=record.started, finished=record.finished,
              pid=record.pid or 0, notes=notes)
    return run


def _step_starts(store: StateStore, run_id: str) -> dict[str, float]:
    """When each step started (Unix time), from the run's journal of events."""
    import datetime as dt

    starts = {}
    for event in store.run_events(run_id, names=("step_start",)):
        try:
            stamp = dt.datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
        except (KeyError, ValueError, AttributeError):
            continue
        starts[event["step"]] = stamp.timestamp()
    return starts


def _recipe(record: RunRecord, session: Any) -> tuple[Recipe, list[str]]:
    """The run's recipe from its file, or a stand-in built from the plan when it cannot be read."""
    path = Path(record.recipe_path) if record.recipe_path else None
    if path is not None and path.is_file():
        try:
            recipe = session.load(path)
        except OrchError as exc:
            reason = f"it no longer reads as a recipe ({str(exc).splitlines()[0]})"
        else:
            notes = []
            if record.recipe_digest and _digest(path) != record.recipe_digest:
                notes.append(f"The recipe file {path} changed since this run; the graph shows it as it is now.")
            return recipe, notes
    else:
        reason = "the file is gone" if path else "the run recorded no recipe file"
    steps = tuple(Step(name, i) for i, name in enumerate(record.flags.get("plan") or []))
    note = f"The recipe of this run could not be read: {reason}; the graph shows its steps without dependencies."
    return Recipe(record.recipe, steps, path=record.recipe_path), [note]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_text(encoding="utf-8").encode("utf-8")).hexdigest()
