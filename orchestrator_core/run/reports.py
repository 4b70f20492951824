"""Group commit: finished steps recorded a group at a time, each reported once its group is.

The engine does its own bookkeeping when a step finishes (results, dependents made
ready, metrics), so the next steps start at once; the hooks that record and report the
step (``orch_record_steps``, then ``orch_after_step``/``orch_on_step_error``) run here,
for a group of steps at a time: one transaction of the state store per group instead of
one per step. No step is reported before the transaction holding it has committed, so
every reported step survives a ``kill -9``; one killed before its group was flushed was
never reported and runs again on resume, like a step that was still running
(docs/state.md, "Group commit").
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from orchestrator_core.run.interrupts import deferred

if TYPE_CHECKING:
    from orchestrator_core.model import Step, StepResult
    from orchestrator_core.plugin.hooks import Hooks
    from orchestrator_core.run.state import Run

# A group is flushed when it holds REPORT_BATCH steps, when its oldest step finished
# REPORT_DELAY_S ago, and whenever the runner is about to wait or to run a step that may
# take a while.
REPORT_BATCH = 256
REPORT_DELAY_S = 0.020
# A handler is "quick" when its last run took less than QUICK_HANDLER_MS and at most one
# run in QUICK_HANDLER_SLOW_SHARE did not (a loaded machine delays a quick step now and
# then): a step of it may run on the runner's thread with earlier steps still unreported.
QUICK_HANDLER_MS = 1.0
QUICK_HANDLER_SLOW_SHARE = 16


class ReportQueue:
    """The finished steps of one run waiting for their group's commit, and when to flush them."""

    def __init__(self, run: Run, hooks: Hooks):
        self.run = run
        self.hooks = hooks
        self.waiting: list[tuple[Step, StepResult, float]] = []  # (step, result, when it finished)
        self.since = 0.0  # when the oldest of them finished (monotonic)
        self.handler_runs: dict[str, tuple[int, int, bool]] = {}  # handler -> runs, slow runs, was the last quick
        self.flushing = False  # a flush is under way (a write it makes must not start another)
        self.failure: BaseException | None = None  # a flush a step's write started failed: raised by the next

    def ran(self, handler: str, duration_ms: float | None) -> None:
        """Note how long a run of ``handler`` took (see :meth:`flush_before`)."""
        quick = duration_ms is not None and duration_ms < QUICK_HANDLER_MS
        runs, slow, _ = self.handler_runs.get(handler, (0, 0, True))
        self.handler_runs[handler] = (runs + 1, slow + (not quick), quick)

    def add(self, step: Step, result: StepResult) -> None:
        """Queue a finished step for recording and reporting; flush the queue when it is due."""
        if not self.waiting:
            self.since = time.monotonic()
        self.waiting.append((step, result, time.time()))
        if len(self.waiting) >= REPORT_BATCH or time.monotonic() - self.since >= REPORT_DELAY_S:
            self.flush()

    def flush(self) -> None:
        """Record the finished steps waiting (one ``orch_record_steps`` call), then report each, in finish order.

        When recording raises (a full disk), none of the group is reported; when a
        reporter raises, the rest of the group is recorded but not reported (its lines
        are lost, never false). The signal ``orch run`` turns into Ctrl-C waits until the
        group is recorded and reported whole (``interrupts.deferred``). A ``KeyboardInterrupt``
        raised otherwise (in-process runs) leaves the group, or the part not yet reported,
        queued for the flush that ends the run: it is recorded (again: the recorder skips
        what it committed) and reported there.
        """
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        if not self.waiting:
            return
        self.flushing = True
        try:
            with deferred():  # a Ctrl-C meanwhile comes once the group is recorded and reported whole
                self._record_and_report()
        finally:
            self.flushing = False

    def flush_for_output(self) -> None:
        """Flush before a step running on the runner's thread writes to stdout or stderr (``output_order.py``).

        A failure to record (a full disk) is not the step's to catch: it is kept, and the
        runner's next :meth:`flush` raises it (at the latest the one that ends the run).
        """
        if self.flushing or self.failure is not None:
            return
        try:
            self.flush()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - the runner raises it, not the step
            self.failure = exc

    def _record_and_report(self) -> None:
        finished = self.waiting
        try:
            self.hooks.record_steps(run=self.run, finished=finished)
        except KeyboardInterrupt:
            raise
        except BaseException:
            self.waiting = []
            for step, _, _ in finished:  # finished, but nothing says so: not counted as done
                if self.run.results.pop(step.name, None) is not None:
                    self.run.unrecorded.append(step.name)
            raise
        self.waiting = []
        for place, (step, result, _) in enumerate(finished):
            try:
                if result.ok:
                    self.hooks.after_step(run=self.run, step=step, result=result)
                else:
                    self.hooks.on_step_error(run=self.run, step=step, result=result, error=result.error or {})
            except KeyboardInterrupt:
                self.waiting = finished[place + 1:]
                raise

    def flush_before(self, handler: str, *, on_runner_thread: bool) -> None:
        """Flush before a step starts, unless it runs on the runner's own thread and its handler is known quick.

        A serial executor (``inline``) runs the step inside ``submit``: the steps waiting
        would be reported only after it, however long it takes. A chain of quick steps
        (their handler ran before in this run, the last time and nearly every time under
        ``QUICK_HANDLER_MS``) still groups its commits: should one of them print, its first
        write flushes (``output_order.py``). A step handed to another thread or process
        finds the steps before it reported, so what it prints comes after their lines.
        """
        if not self.waiting:
            return
        if not (on_runner_thread and self.known_quick(handler)):
            self.flush()

    def runs(self, handler: str) -> int:
        """How many times ``handler`` ran so far in the run."""
        entry = self.handler_runs.get(handler)
        return entry[0] if entry is not None else 0

    def known_quick(self, handler: str, *, runs_at_least: int = 1) -> bool:
        """Whether ``handler``'s last run, and nearly every run before (all but one in
        ``QUICK_HANDLER_SLOW_SHARE``), took less than ``QUICK_HANDLER_MS``, over at least ``runs_at_least`` runs."""
        runs, slow, last_quick = self.handler_runs.get(handler, (0, 0, False))
        return last_quick and runs >= runs_at_least and slow * QUICK_HANDLER_SLOW_SHARE <= runs
