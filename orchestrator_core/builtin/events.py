"""``orch run --events FILE``: every lifecycle event of the run as versioned JSON lines.

Schema ``orch.event/1`` (documented in docs/events.md): each line is an object with
``schema``, ``event`` (``run_start``, ``step_start``, ``step_finish``, ``step_error``,
``run_finish``), ``ts`` (UTC ISO-8601), ``run`` (the run id) and the fields of that
event. Fields are only ever added within a schema version.

The records are built by the functions below, which the state recorder uses too: the
journal of events it keeps in the state store (streamed by ``orch serve``) carries
exactly the records this file does.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TextIO

from orchestrator_core._markers import hookimpl
from orchestrator_core.errors import utc_timestamp

SCHEMA = "orch.event/1"

logger = logging.getLogger("orchestrator.events")


def event_record(run: Any, event: str, **fields: Any) -> dict[str, Any]:
    """One ``orch.event/1`` record: the common fields, then the event's own."""
    return {"schema": SCHEMA, "event": event, "ts": utc_timestamp(), "run": run.id, **fields}


def run_start_event(run: Any) -> dict[str, Any]:
    planned = {s.name for s in run.plan}
    return event_record(
        run, "run_start", recipe=run.recipe.name, recipe_path=run.recipe.path,
        plan=[s.name for s in run.plan], flags=run.flags, pid=run.pid,
        depends_on={s.name: [d for d in s.depends_on if d in planned] for s in run.plan},
    )


def step_start_event(run: Any, step: Any) -> dict[str, Any]:
    return event_record(run, "step_start", step=step.name)


def step_finish_event(run: Any, step: Any, result: Any) -> dict[str, Any]:
    return event_record(
        run, "step_finish", step=step.name, status=result.status, outputs=result.outputs,
        cache=result.cache, metrics=result.metrics, executor=result.executor, attempts=result.attempts,
        line=result.line(),
    )


def step_error_event(run: Any, step: Any, result: Any, error: dict[str, Any]) -> dict[str, Any]:
    return event_record(
        run, "step_error", step=step.name, status="error", error=error,
        metrics=result.metrics, executor=result.executor, attempts=result.attempts,
    )


def run_finish_event(run: Any) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for result in run.results.values():
        counts[result.status] = counts.get(result.status, 0) + 1
    return event_record(run, "run_finish", status=run.status, counts=counts)


class EventLog:
    """Writes the events; a file that stops taking them (a full disk) ends the log, not the run."""

    def __init__(self) -> None:
        self._file: TextIO | None = None

    def _emit(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()
        except OSError as exc:
            logger.error("the events file %s cannot be written (%s): the run goes on without it",
                         self._file.name, exc.strerror)
            self._close()

    def _close(self) -> None:
        file, self._file = self._file, None
        try:
            file.close()  # type: ignore[union-attr]
        except OSError:
            pass  # what could not be written is lost either way

    @hookimpl
    def orch_run_start(self, run: Any) -> None:
        path = run.config.events_path
        try:
            self._file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        except OSError as exc:
            logger.error("the events file %s cannot be opened (%s): the run goes on without it", path, exc.strerror)
            self._file = None
        if self._file is not None:
            self._emit(run_start_event(run))

    @hookimpl
    def orch_before_step(self, run: Any, step: Any) -> None:
        if self._file is not None:
            self._emit(step_start_event(run, step))

    @hookimpl
    def orch_after_step(self, run: Any, step: Any, result: Any) -> None:
        if self._file is not None:
            self._emit(step_finish_event(run, step, result))

    @hookimpl
    def orch_on_step_error(self, run: Any, step: Any, result: Any, error: dict[str, Any]) -> None:
        if self._file is not None:
            self._emit(step_error_event(run, step, result, error))

    @hookimpl
    def orch_run_finish(self, run: Any) -> None:
        if self._file is not None:
            self._emit(run_finish_event(run))
        if self._file is not None:
            self._close()
