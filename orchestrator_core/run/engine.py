"""The run loop: start ready steps, collect results, merge deltas, retry, time out, stop.

It holds no default behaviour of its own: where steps run is an executor's job,
how a key merges is ``orch_merge_context``'s, what is printed is the reporters'.
Results are applied to the context in recipe order (see ``Context.apply``).
Writes made to the run from outside (``orch_external_writes``) are pulled into the
context before steps start (once for the steps started together) and once after the last
step finished. How many steps an executor gets, and when the runner runs a quick step itself,
is ``admission.py``'s policy. An executor that queues ahead (the thread executor) gets ready
steps beyond its free workers; such a step starts, for the hooks and its timeout, when a worker
takes it (see ``handoff.py``); when it has no timeout and no plugin implements
``orch_before_step`` for the run, the runner is not told.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from orchestrator_core.run.admission import RUNNER_THREAD_EXECUTOR, Admission, queues_ahead
from orchestrator_core.run.caching import RunCache
from orchestrator_core.errors import ContextError, error_from_exception, error_record
from orchestrator_core.plugin.hooks import Hooks
from orchestrator_core.plugin.interfaces import Executor
from orchestrator_core.run.handoff import Handoff
from orchestrator_core.run.interrupts import abandoned, interrupt_dropped, run_stopping
from orchestrator_core.run.merging import MergePolicy
from orchestrator_core.run.output_order import StepStreams
from orchestrator_core.run.readiness import Readiness
from orchestrator_core.run.reports import ReportQueue
from orchestrator_core.model import METRICS_KEY, STATUS_ERROR, STATUS_OK, StepResult, StepTask
from orchestrator_core.recipe.values import MAX_SECONDS
from orchestrator_core.plugin.registry import Registry
from orchestrator_core.run.state import Run
from orchestrator_core.recipe.prepare import PreparedStep
from orchestrator_core.records import Record

if TYPE_CHECKING:
    import random

logger = logging.getLogger("orchestrator.engine")

TIMEOUT_EXIT_CODE = 124
# Extra time the engine gives a handler that enforces its step's timeout itself
# (``enforces_timeout``) before cancelling it: a backstop, not the timeout.
HANDLER_TIMEOUT_GRACE = 5.0


def backoff_delay(base: float, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry ``attempt`` + 1: exponential, with ±50 % jitter.

    The jitter keeps steps that failed together (a flaky service) from retrying in lockstep.
    The delay is capped at a year: a long run of retries must not overflow the clock.
    ``random`` is imported here, by the first retry: a run without one does not load it.
    """
    if rng is None:
        import random as rng  # type: ignore[no-redef]
    return min(base * 2 ** min(attempt - 1, 64) * rng.uniform(0.5, 1.5), MAX_SECONDS)


class _Attempt(Record):
    __slots__ = ("prepared", "number", "started", "deadline", "executor")

    def __init__(self, prepared: PreparedStep, number: int, started: float | None, deadline: float | None,
                 executor: Executor):
        self.prepared = prepared
        self.number = number
        self.started = started  # None while queued in an executor that queues ahead
        self.deadline = deadline
        self.executor = executor


class Engine:
    """Runs the plan of one :class:`Run`; one instance per run."""

    def __init__(self, run: Run, prepared: dict[str, PreparedStep], hooks: Hooks, registry: Registry):
        self.run = run
        hooks = hooks.for_run(run)  # the per-step hooks without pluggy's per-call work (direct_calls.py)
        self.hooks = hooks
        self.registry = registry
        self.steps = [prepared[s.name] for s in run.plan]
        self.readiness = Readiness(run.plan)
        self.running: dict[Future, _Attempt] = {}  # submitted attempts, queued or started
        self.timed: dict[Future, _Attempt] = {}  # the started ones with a deadline
        self.alone = 0  # attempts in ``running`` of steps that must run alone
        self.timeouts = 0  # attempts in ``running`` of steps with a timeout, queued or started
        self.handoff = Handoff()  # finished futures and start notices from the executors' threads
        self.queued_cancelled = False
        self.delayed: list[tuple[float, PreparedStep, int]] = []
        self.executors: dict[str, Executor] = {}
        self.routes: dict[str, tuple[Executor, bool, bool]] = {}  # see _route
        self.stopping = False
        self.merging = MergePolicy(run.recipe, hooks, registry)
        self.cache = RunCache(run, hooks)
        metrics = run.context.runner_value(METRICS_KEY)  # an earlier run's entries, on resume
        self.metrics: dict = dict(metrics) if isinstance(metrics, dict) else {}  # its own dict: changed in place
        self.reports = ReportQueue(run, hooks)  # finished steps waiting for their group's commit
        self.admission = Admission(run.config.workers, self.reports)  # how deep queues go; caller runs
        self.places = (str(run.config.workdir), str(run.config.data_dir))  # every task's workdir, data_dir

    # -- the loop ------------------------------------------------------------------------------
    def execute(self) -> None:
        """Run every selected step; returns when nothing is left to start or wait for."""
        self.run.context.replace_runner_value(METRICS_KEY, self.metrics)
        step_streams = StepStreams(self.reports)  # a step's first print reports the steps before it
        try:
            while True:
                started = self._start_ready()
                if not self.running and not self.delayed:
                    if started:
                        continue  # steps that ran inline may have made others ready
                    break
                self._wait()
            self.reports.flush()
        except BaseException:
            run_stopping()
            try:
                self.reports.flush()  # what finished before Ctrl-C or a failure is recorded and reported
            finally:
                self._shutdown(cancel=True)
            raise
        finally:
            step_streams.restore()
            self.readiness.settle(self.metrics)
            self.cache.close()
        self._shutdown(cancel=False)
        self._pull_external_writes()

    def _pull_external_writes(self) -> None:
        """Record in the context what was written to the run from outside since the last pull."""
        for write in self.hooks.external_writes(run=self.run):
            logger.info("context key %r written from outside the run by %r", write.key, write.who)
            self.run.context.record(write)

    def _wait(self) -> None:
        self.reports.flush()
        now = time.monotonic()
        moments = [a.deadline for a in self.timed.values()] + [t for t, _, _ in self.delayed]
        timeout = max(0.0, min(moments) - now) if moments else None
        if self.running:
            for item in self.handoff.next(timeout):
                if type(item) is tuple:
                    self._started(*item)
                else:
                    self._collect(item)
        else:
            time.sleep(timeout or 0)
        now = time.monotonic()
        for future, attempt in list(self.timed.items()):
            if now >= attempt.deadline and future in self.running:
                self.handoff.hold()  # the timeout may stop the run: no queued step starts meanwhile
                self._drop(future)
                abandoned(attempt.prepared.step.name)  # what it started is stopped when orch run ends
                attempt.executor.cancel(future)
                step = attempt.prepared.step
                error = error_record(step.name, f"step timed out after {step.timeout:g} s",
                                     details={"timeout_s": step.timeout}, exit_code=TIMEOUT_EXIT_CODE,
                                     error_type="timeout")
                self._finish(attempt.prepared, attempt.number, StepResult(
                    step.name, STATUS_ERROR, error=error, executor=attempt.prepared.executor,
                    metrics={"duration_ms": round((now - attempt.started) * 1000, 3)}))
        due = [d for d in self.delayed if d[0] <= now]
        self.delayed = [d for d in self.delayed if d[0] > now]
        if due:
            self._pull_external_writes()
        for _, prepared, number in due:
            self._submit(prepared, number)
        self._release_queued()

    def _release_queued(self) -> None:
        """Let queued steps start again now that the runner has seen every failure that held them.

        When the run is stopping (a failure without ``--keep-going``), the steps still
        queued are cancelled first: they never start and are not reported as run.
        """
        if self.stopping:
            self._cancel_queued()
        self.handoff.release()

    def _cancel_queued(self) -> None:
        """Cancel the steps still waiting in an executor's queue (once: the run is stopping)."""
        if self.queued_cancelled:
            return
        self.queued_cancelled = True
        for future, attempt in list(self.running.items()):
            if attempt.started is None and future.cancel():
                self._drop(future)
                attempt.executor.cancel(future)

    def _start_ready(self) -> int:
        """Start ready steps in plan order; a step that must run alone waits for an empty field."""
        interrupt_dropped()  # a signal a step caught and dropped stops the run here
        if self.stopping:
            return 0
        self.readiness.settle(self.metrics)  # a step that starts sees every finished step's entry
        started = 0
        kept: list[int] = []
        alone_running = self.alone > 0
        if self.readiness and not alone_running:
            self._pull_external_writes()  # once for the steps started together here
        while self.readiness and not alone_running:
            position = self.readiness.pop()
            prepared = self.steps[position]
            if not prepared.parallel:
                if self.running or self.delayed:
                    kept.append(position)
                    break  # no overtaking a step that must run alone
                alone_running = True
            elif self._runs_here(prepared):
                started += 1
                self._submit(prepared, 1, here=True)
                if self.stopping:
                    break
                continue
            elif len(self.running) >= self._room(prepared):
                kept.append(position)
                break
            started += 1
            self._submit(prepared, 1)
            if self.stopping:
                break
        for position in kept:
            self.readiness.put_back(position)
        if self.stopping:  # a step finished from the cache failed to merge: nothing queued starts
            self._cancel_queued()
        return started

    def _runs_here(self, prepared: PreparedStep) -> bool:
        """Whether the parallel step ``prepared`` runs on the runner's thread: ``--workers`` steps in
        flight already, and the policy allows it (``Admission.runs_here``)."""
        if len(self.running) < self.run.config.workers:
            return False
        route = self.routes.get(prepared.executor)
        return self.admission.runs_here(prepared, route is not None and route[2], self.timeouts)

    def _room(self, prepared: PreparedStep) -> int:
        """How many attempts may be in flight when ``prepared`` is submitted (``Admission.room``)."""
        route = self.routes.get(prepared.executor) or self._route(prepared.executor)
        return self.admission.room(prepared, route[2])

    # -- one attempt ---------------------------------------------------------------------------
    def _executor(self, name: str) -> Executor:
        executor = self.executors.get(name)
        if executor is None:
            executor = self.registry.get("executor", name).obj(self.run.config)
            executor.planned_steps = sum(1 for prepared in self.steps if prepared.executor == name)
            executor.start()
            self.executors[name] = executor
        return executor

    def _route(self, name: str) -> tuple[Executor, bool, bool]:
        """The executor ``name``, whether its tasks travel detached, whether it queues ahead (once a run)."""
        executor = self._executor(name)
        route = self.routes[name] = (executor, executor.capabilities.out_of_process, queues_ahead(executor))
        return route

    def _submit(self, prepared: PreparedStep, number: int, *, here: bool = False) -> None:
        """Start one attempt of ``prepared`` (the caller pulled the external writes just before);
        ``here``: on the runner's own thread (``Admission.runs_here``)."""
        step = prepared.step
        if number == 1 and step.cache and self._from_cache(prepared):
            return
        name = RUNNER_THREAD_EXECUTOR if here else prepared.executor
        executor, detached, queued = self.routes.get(name) or self._route(name)
        workdir, data_dir = self.places
        task = StepTask(
            step.name, self.run.id, prepared.handler, dict(step.params), self.run.context,
            workdir, data_dir, number, step.timeout,
        )
        if detached:
            task = task.detached()
        if queued:  # orch_before_step and the deadline come when it starts
            self.reports.flush_before(prepared.handler.identity, on_runner_thread=False)
            heard = step.timeout or self.hooks.heard("orch_before_step")  # else announced when it finished
            future = executor.submit_queued(task, self.handoff.on_start if heard else self.handoff.on_start_unheard)
            self._track(future, _Attempt(prepared, number, None, None, executor))
            future.add_done_callback(self.handoff.on_done)
            return
        self.reports.flush_before(prepared.handler.identity,  # a serial executor runs a step with a timeout on a thread
                                  on_runner_thread=not executor.capabilities.parallel and not step.timeout)
        self.hooks.before_step(run=self.run, step=step)
        now = time.monotonic()
        attempt = _Attempt(prepared, number, now, self._deadline(prepared, now), executor)
        future = executor.submit(task)
        if future.done():  # ran on the spot (inline): nothing to track while it runs
            self._collect_attempt(attempt, future)
        else:
            self._track(future, attempt)
            future.add_done_callback(self.handoff.on_done)

    def _track(self, future: Future, attempt: _Attempt) -> None:
        self.running[future] = attempt
        if attempt.deadline is not None:
            self.timed[future] = attempt
        if not attempt.prepared.parallel:
            self.alone += 1
        if attempt.prepared.step.timeout:
            self.timeouts += 1

    def _drop(self, future: Future) -> _Attempt | None:
        """Stop tracking ``future``; its attempt, or None when it was already written off."""
        attempt = self.running.pop(future, None)
        if attempt is not None:
            self.timed.pop(future, None)
            if not attempt.prepared.parallel:
                self.alone -= 1
            if attempt.prepared.step.timeout:
                self.timeouts -= 1
        return attempt

    def _started(self, future: Future, at: float) -> None:
        """A queued attempt started at ``at``: its deadline counts from there, and the hooks hear of it."""
        attempt = self.running.get(future)
        if attempt is None or attempt.started is not None:
            return  # cancelled or timed out meanwhile
        self._announce(attempt, at)
        if attempt.deadline is not None:
            self.timed[future] = attempt

    def _announce(self, attempt: _Attempt, at: float) -> None:
        attempt.started = at
        attempt.deadline = self._deadline(attempt.prepared, at)
        self.hooks.before_step(run=self.run, step=attempt.prepared.step)

    @staticmethod
    def _deadline(prepared: PreparedStep, now: float) -> float | None:
        """When the engine cancels an attempt that started at ``now``.

        A handler with ``enforces_timeout`` stops its own work at the step's timeout and
        reports a more detailed error (the shell step type: the script's exit status and
        last stderr lines), so the engine waits ``HANDLER_TIMEOUT_GRACE`` longer.
        """
        timeout = prepared.step.timeout
        if not timeout:
            return None
        if getattr(prepared.handler, "enforces_timeout", False):
            timeout += HANDLER_TIMEOUT_GRACE
        return now + timeout

    # -- the cache -----------------------------------------------------------------------------
    def _from_cache(self, prepared: PreparedStep) -> bool:
        """Finish a cacheable step from the cache (see caching.py); True on a hit.

        A hit runs on no executor: it is finished like any result (its delta merged,
        lifecycle hooks called), with no attempt behind it.
        """
        result = self.cache.hit(prepared)
        if result is None:
            return False
        self.hooks.before_step(run=self.run, step=prepared.step)
        self._finish(prepared, 1, result)
        return True

    def _collect(self, future: Future) -> None:
        attempt = self._drop(future)
        if attempt is not None:  # else already written off (timed out)
            self._collect_attempt(attempt, future)

    def _collect_attempt(self, attempt: _Attempt, future: Future) -> None:
        if attempt.started is None:  # finished (an executor's own failure) without saying it started
            self._announce(attempt, time.monotonic())
        try:
            result = future.result()
        except BaseException as exc:  # noqa: BLE001 - an executor's own failure fails the step
            if isinstance(exc, KeyboardInterrupt):
                raise
            result = StepResult(attempt.prepared.step.name, STATUS_ERROR,
                                error=error_from_exception(attempt.prepared.step.name, exc))
        result.executor = attempt.executor.name or attempt.prepared.executor
        self._finish(attempt.prepared, attempt.number, result)

    def _finish(self, prepared: PreparedStep, number: int, result: StepResult) -> None:
        step = prepared.step
        result.attempts = number
        if result.cache != "hit":  # the handler ran: was it quick?
            self.reports.ran(prepared.handler.identity, result.metrics.get("duration_ms"))
        ok = result.status == STATUS_OK
        if ok and result.delta:  # most steps of a long chain or a fan-out write nothing
            try:
                self.run.context.apply(result.delta, position=step.index, merge=self.merging.merge,
                                       mergeable=self.merging.mergeable)
            except ContextError as exc:
                ok = False
                result = StepResult(step.name, STATUS_ERROR, error=error_record(
                    step.name, str(exc), details={"type": type(exc).__name__}), metrics=result.metrics,
                    attempts=number, executor=result.executor)
        if not ok and number <= step.retries and not self.stopping:
            delay = backoff_delay(step.retry_delay, number)
            logger.warning("step %r failed (%s); retry %d of %d in %.2f s", step.name,
                           result.error.get("reason") if result.error else "?", number, step.retries, delay)
            self.delayed.append((time.monotonic() + delay, prepared, number + 1))
            return
        self._record(step, result, ok)

    def _record(self, step, result: StepResult, ok: bool) -> None:
        if step.cache:
            self.cache.store(step, result)
        self.run.results[step.name] = result
        self.readiness.in_plan_order(self.metrics, step.name, dict(
            result.metrics, executor=result.executor, attempts=result.attempts, status=result.status,
            cache=result.cache))
        if ok:
            self.readiness.succeeded(step.name)
        elif not self.run.config.keep_going:
            self.stopping = True
        self.reports.add(step, result)

    def _shutdown(self, *, cancel: bool) -> None:
        self.handoff.hold()  # no queued step starts while the others are cancelled
        for future in self.running:
            future.cancel()  # queued ones first: a thread replacing a written-off one must not start them
        for future, attempt in list(self.running.items()):
            attempt.executor.cancel(future)
        self.running.clear()
        self.timed.clear()
        self.alone = self.timeouts = 0
        self.handoff.release()  # a worker holding a cancelled queued step lets it go
        for executor in self.executors.values():
            try:
                executor.shutdown(cancel=cancel)
            except Exception:  # noqa: BLE001 - shutting down must reach every executor
                logger.warning("executor %r failed to shut down", executor.name, exc_info=True)
