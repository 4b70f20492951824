"""What became of each step of a run's plan: its result, or why it has none.

A run records a step when it finishes. A step with no result was either never
reached (a step it depends on failed or never finished: ``not run``) or cut short:
the run was killed (``kill -9``) or interrupted (Ctrl-C, SIGTERM) while the step was
running, and it may have done part of its work (files written, a service called).
A report must not call that step ``not run``; it is ``interrupted``. Two records
tell the two apart:

- the run's journal holds a ``step_start`` event for a step that started while a
  server (``orch serve``) watched the store (docs/state.md): such a step that has
  no result was cut short, whatever ended the run;
- in a run killed or interrupted, a step whose dependencies (the run's plan, from
  its ``run_start`` event) had all finished ok was running, or ready to start, when
  the run stopped: it is ``interrupted`` too.

A run that ended ``error`` because a step failed waits for the steps it was running,
so its steps without a result were never started, unless the journal says otherwise.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from orchestrator_core import OrchError

if TYPE_CHECKING:
    from orchestrator_core.run.state import Run

NOT_RUN = "not run"
INTERRUPTED = "interrupted"
STOPPED_FROM_OUTSIDE = ("killed", "interrupted")  # run statuses: kill -9, or Ctrl-C / SIGTERM
STILL_GOING = ("ok", "running")  # run statuses whose steps without a result were not cut short


def step_statuses(run: Run) -> dict[str, str]:
    """Each step of ``run``'s plan, in plan order → its result's status, ``interrupted`` or ``not run``."""
    unfinished = [step.name for step in run.plan if step.name not in run.results]
    cut = interrupted_steps(run, unfinished) if unfinished and run.status not in STILL_GOING else set()
    return {step.name: (run.results[step.name].status if step.name in run.results
                        else INTERRUPTED if step.name in cut else NOT_RUN) for step in run.plan}


def interrupted_steps(run: Run, unfinished: list[str]) -> set[str]:
    """The steps of ``unfinished`` (no result in ``run``) that the run's stop cut short."""
    started, depends_on = _journal(run)
    cut = {name for name in unfinished if name in started}
    if run.status in STOPPED_FROM_OUTSIDE:
        if depends_on is None:  # no run_start event to read: the recipe's dependencies
            depends_on = {step.name: list(step.depends_on) for step in run.plan}
        planned = {step.name for step in run.plan}
        for name in unfinished:
            if all(_done(run, dep, planned) for dep in depends_on.get(name, ())):
                cut.add(name)
    return cut


def _done(run: Run, dependency: str, planned: set[str]) -> bool:
    """Whether ``dependency`` no longer held its dependents back: it finished ok, or is not in this run's plan."""
    result = run.results.get(dependency)
    return dependency not in planned or (result is not None and result.ok)


def _journal(run: Run) -> tuple[set[str], dict[str, Any] | None]:
    """The steps whose start the run's journal holds, and the plan's dependencies from its ``run_start``.

    Nothing when the store cannot say (a run that was never recorded, a store gone since).
    """
    from orchestrator_core.run.recorded import open_store

    try:
        store = open_store(run.config.state_dir)
    except (OrchError, OSError, sqlite3.Error):
        return set(), None
    try:
        events = store.run_events(run.id, names=("run_start", "step_start"))
    except (OrchError, sqlite3.Error):
        return set(), None
    finally:
        store.close()
    started = {event["step"] for event in events if event.get("event") == "step_start" and "step" in event}
    starts = [event for event in events if event.get("event") == "run_start"]
    depends_on = starts[-1].get("depends_on") if starts else None
    return started, depends_on if isinstance(depends_on, dict) else None
