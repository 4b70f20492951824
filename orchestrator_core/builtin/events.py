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
    return event_record(run, "run_finish", status=run.status, counts=counts, reason=getattr(run, "reason", None))


class EventLog:
    """Writes the events; a file that stops taking them (a full disk) ends the log, not the run.

    Finished steps are reported in groups, once recorded (``orch_record_steps``), so a
    step may start while steps that finished before it are not yet reported: its
    ``step_start`` waits for their ``step_finish`` lines, and each ``step_finish`` says
    when the step finished, so the file is in the order things happened.
    """

    def __init__(self) -> None:
        self._file: TextIO | None = None
        self._base = 0  # results the run had when it started (none, unless a plugin added some)
        self._reported = 0  # steps of the run whose finish was written
        self._held: list[tuple[int, dict[str, Any]]] = []  # (steps finished before it, a step_start)
        self._finished_at: dict[str, float] = {}  # step -> when it finished, for its step_finish

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
        self._reported, self._held, self._finished_at = 0, [], {}
        self._base = len(run.results)  # results the run had before its first step finished
        if self._file is not None:
            self._emit(run_start_event(run))

    def idle_hooks(self, run: Any) -> set[str]:
        """The per-step hooks that do nothing in this run (asked once it started: plugin/direct_calls.py)."""
        if self._file is not None:
            return set()
        return {"orch_before_step", "orch_record_steps", "orch_after_step", "orch_on_step_error"}

    @hookimpl
    def orch_before_step(self, run: Any, step: Any) -> None:
        if self._file is None:
            return
        finished = len(run.results) - self._base
        if finished > self._reported:
            self._held.append((finished, step_start_event(run, step)))
        else:
            self._emit(step_start_event(run, step))

    @hookimpl
    def orch_record_steps(self, finished: list[tuple[Any, Any, float]]) -> None:
        if self._file is not None:
            self._finished_at.update((step.name, when) for step, _, when in finished)

    @hookimpl
    def orch_after_step(self, run: Any, step: Any, result: Any) -> None:
        if self._file is not None:
            self._emit_finish(step, step_finish_event(run, step, result))

    @hookimpl
    def orch_on_step_error(self, run: Any, step: Any, result: Any, error: dict[str, Any]) -> None:
        if self._file is not None:
            self._emit_finish(step, step_error_event(run, step, result, error))

    def _emit_finish(self, step: Any, record: dict[str, Any]) -> None:
        """A step's finish, stamped with when it finished, then the starts that came after it."""
        when = self._finished_at.pop(step.name, None)
        if when is not None:
            record["ts"] = utc_timestamp(when)
        self._emit(record)
        self._reported += 1
        while self._held and self._held[0][0] <= self._reported:
            self._emit(self._held.pop(0)[1])

    @hookimpl
    def orch_run_finish(self, run: Any) -> None:
        for _, start in self._held:
            self._emit(start)
        self._held = []
        if self._file is not None:
            self._emit(run_finish_event(run))
        if self._file is not None:
            self._close()
