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
import os
from typing import Any

from orchestrator_core._markers import hookimpl
from orchestrator_core.errors import utc_timestamp
from orchestrator_core.model import STATUS_ERROR, STATUS_OK

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


class WholeLines:
    """An append-only file of lines that is never left ending in a cut line.

    Each line goes out in one ``write`` of its own (``O_APPEND``), so a reader following
    the file sees whole lines. When one cannot be written whole (a full disk), the file
    is cut back to the end of the last line written whole, and closed.
    """

    def __init__(self, path: Any):
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self._end = os.lseek(self._fd, 0, os.SEEK_END)  # where the last whole line ends
        self.cut_back = True  # after a failed write: does the file end with a whole line?

    def write(self, line: str) -> None:
        """Append ``line`` (ending in a newline); on ``OSError``, cut back and close, then raise it."""
        data = memoryview(line.encode("utf-8"))
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])  # type: ignore[arg-type]
        except OSError:
            self.cut_back = self._cut_back(written)
            self.close()
            raise
        self._end += written

    def _cut_back(self, written: int) -> bool:
        """Take off the part of a line that was written: whether the file now ends with a whole line."""
        if not written:
            return True
        try:
            os.ftruncate(self._fd, self._end)  # type: ignore[arg-type]
        except OSError:
            return False
        return True

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class EventLog:
    """Writes the events; a file that stops taking them (a full disk) ends the log, and the run is not ok.

    The steps go on, as they would had no log been asked for (the state store records
    them, and journals these same events): the file is a view of the run, and what the
    run computed is not thrown away because a view of it failed. But the log the user
    asked for is incomplete, so the run ends as ``error`` with that reason
    (:attr:`Run.reason`: ``orch runs show`` says it, ``orch run`` exits 1), and the file
    ends with its last whole event, not a cut line.

    Finished steps are reported in groups, once recorded (``orch_record_steps``), so a
    step may start while steps that finished before it are not yet reported: its
    ``step_start`` waits for their ``step_finish`` lines, and each ``step_finish`` says
    when the step finished, so the file is in the order things happened.
    """

    def __init__(self) -> None:
        self._file: WholeLines | None = None
        self._run: Any = None  # the run being logged, whose reason a failure sets
        self._base = 0  # results the run had when it started (none, unless a plugin added some)
        self._reported = 0  # steps of the run whose finish was written
        self._held: list[tuple[int, dict[str, Any]]] = []  # (steps finished before it, a step_start)
        self._finished_at: dict[str, float] = {}  # step -> when it finished, for its step_finish
        self._failed = False  # the file of this run could not be written

    def _emit(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        file, self._file = self._file, None
        self._failed = True
        assert file is not None
        ending = "it ends with the last event written whole" if file.cut_back else "its last line may be cut"
        reason = f"the events file {file.path} could not be written ({exc.strerror or exc}): {ending}"
        logger.error("%s; the run goes on, and ends as error", reason)
        if self._run is not None:
            self._run.reason = self._run.reason or reason

    def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    @hookimpl
    def orch_run_start(self, run: Any) -> None:
        path = run.config.events_path
        self._run, self._failed = run, False
        try:
            self._file = WholeLines(path) if path else None
        except OSError as exc:  # ``orch run`` checks before the run starts; a call from Python may not
            self._file, self._failed = None, True
            run.reason = run.reason or f"the events file {path} could not be opened ({exc.strerror or exc})"
            logger.error("%s; the run goes on, and ends as error", run.reason)
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

    @hookimpl(tryfirst=True)  # before the state recorder records how the run ended: a last line lost changes it
    def orch_run_finish(self, run: Any) -> None:
        for _, start in self._held:
            self._emit(start)
        self._held = []
        if self._file is not None:
            self._emit(run_finish_event(run))
        self._close()
        if self._failed and run.status == STATUS_OK:
            run.status = STATUS_ERROR  # the run's last lines are what failed: its steps had all gone well
        self._run = None
