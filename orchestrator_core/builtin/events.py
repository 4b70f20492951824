"""``orch run --events FILE``: every lifecycle event of the run as versioned JSON lines.

Schema ``orch.event/1`` (documented in docs/events.md): each line is an object with
``schema``, ``event`` (``run_start``, ``step_start``, ``step_finish``, ``step_error``,
``run_finish``), ``ts`` (UTC ISO-8601), ``run`` (the run id) and the fields of that
event. Fields are only ever added within a schema version.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from orchestrator_core._markers import hookimpl
from orchestrator_core.errors import utc_timestamp

SCHEMA = "orch.event/1"


class EventLog:
    def __init__(self) -> None:
        self._file: TextIO | None = None

    def _emit(self, run: Any, event: str, **fields: Any) -> None:
        if self._file is None:
            return
        record = {"schema": SCHEMA, "event": event, "ts": utc_timestamp(), "run": run.id, **fields}
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    @hookimpl
    def orch_run_start(self, run: Any) -> None:
        path = run.config.events_path
        self._file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self._emit(
            run, "run_start", recipe=run.recipe.name, recipe_path=run.recipe.path,
            plan=[s.name for s in run.plan], flags=run.flags, pid=run.pid,
        )

    @hookimpl
    def orch_before_step(self, run: Any, step: Any) -> None:
        self._emit(run, "step_start", step=step.name)

    @hookimpl
    def orch_after_step(self, run: Any, step: Any, result: Any) -> None:
        self._emit(
            run, "step_finish", step=step.name, status=result.status, outputs=result.outputs,
            cache=result.cache, metrics=result.metrics, executor=result.executor, attempts=result.attempts,
            line=result.line(),
        )

    @hookimpl
    def orch_on_step_error(self, run: Any, step: Any, result: Any, error: dict[str, Any]) -> None:
        self._emit(
            run, "step_error", step=step.name, status="error", error=error,
            metrics=result.metrics, executor=result.executor, attempts=result.attempts,
        )

    @hookimpl
    def orch_run_finish(self, run: Any) -> None:
        counts: dict[str, int] = {}
        for result in run.results.values():
            counts[result.status] = counts.get(result.status, 0) + 1
        self._emit(run, "run_finish", status=run.status, counts=counts)
        if self._file is not None:
            self._file.close()
            self._file = None

