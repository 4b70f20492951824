"""From Dask futures to the ``concurrent.futures.Future`` objects the runner waits on.

One collector thread takes finished steps from ``distributed.as_completed`` (which
fetches their results on the client's event loop, in batches) and hands each result
to the runner's future. Reading each result with ``future.result()`` from a callback
instead costs a round trip through the event loop per step, which made the per-step
overhead about a third higher in ``bench/bench_executors.py``.

Whatever goes wrong on the cluster becomes the step's error JSON here: an exception
raised on a worker (a scriptlet module the worker cannot import, say), a worker that
died under the step (``KilledWorker``), a cancelled task. The runner never sees a
Dask exception.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, InvalidStateError
from typing import Any

from orchestrator_core.errors import error_from_exception, error_record
from orchestrator_core.model import STATUS_ERROR, StepResult

EXCEPTION_TIMEOUT_S = 60  # fetching a failed step's exception from the scheduler


def failure(step: str, exc: BaseException) -> StepResult:
    """The step's error result for an exception Dask raised instead of a result."""
    if type(exc).__name__ == "KilledWorker":
        error = error_record(step, "dask worker died while running the step",
                             details={"type": "KilledWorker", "message": str(exc)})
    else:
        error = error_from_exception(step, exc)
    return StepResult(step, STATUS_ERROR, error=error)


def cancelled(step: str) -> StepResult:
    return StepResult(step, STATUS_ERROR, error=error_record(step, "the step was cancelled on the Dask cluster"))


def resolve(future: Future, result: StepResult) -> None:
    try:
        future.set_result(result)
    except InvalidStateError:
        pass  # resolved already (cancelled, or the run is shutting down)


class Collector:
    """Resolves the runner's futures as their Dask futures finish, on one thread."""

    def __init__(self, outputs: Any = None) -> None:
        from distributed import as_completed

        self._outputs = outputs  # the workers' output (output.WorkerOutputs), read before each result goes on
        self._lock = threading.Lock()
        self._targets: dict[Any, tuple[str, Future]] = {}  # Dask future -> step, runner's future
        self._finished = as_completed([], with_results=True, raise_errors=False)
        self._added = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._collect, name="orch-dask-results", daemon=True)
        self._thread.start()

    def track(self, dask_future: Any, step: str) -> Future[StepResult]:
        """A running future that gets the step's result when ``dask_future`` finishes."""
        future: Future[StepResult] = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            self._targets[dask_future] = (step, future)
        self._finished.add(dask_future)
        self._added.set()
        return future

    def cancel(self, future: Future) -> None:
        """Cancel the Dask task behind ``future`` and fail ``future`` (if it is still running)."""
        with self._lock:
            found = next(((d, s) for d, (s, f) in self._targets.items() if f is future), None)
            if found is not None:
                del self._targets[found[0]]
        if found is not None:
            found[0].cancel()
            resolve(future, cancelled(found[1]))

    def close(self, client: Any) -> None:
        """Cancel whatever is still running, fail its futures and stop collecting."""
        with self._lock:
            targets, self._targets = self._targets, {}
            self._closed = True
        if targets:
            client.cancel(list(targets), force=True)
        for step, future in targets.values():
            resolve(future, cancelled(step))
        self._finished.clear()  # so the collector stops waiting for them
        self._added.set()
        self._thread.join(timeout=1)

    def _collect(self) -> None:
        while not self._closed:
            try:
                dask_future, outcome = next(self._finished)
            except StopIteration:  # nothing in flight: wait for the next submission
                self._added.wait()
                self._added.clear()
                continue
            with self._lock:
                step, future = self._targets.pop(dask_future, (None, None))
            if future is not None:
                if self._outputs is not None:
                    self._outputs.drain()  # what the step printed goes above the bar before its line
                resolve(future, self._result(step, dask_future, outcome))

    @staticmethod
    def _result(step: str, dask_future: Any, outcome: Any) -> StepResult:
        if dask_future.status == "finished" and isinstance(outcome, StepResult):
            return outcome
        if dask_future.status == "cancelled":
            return cancelled(step)
        try:
            exc = dask_future.exception(timeout=EXCEPTION_TIMEOUT_S)
        except BaseException as problem:  # noqa: BLE001 - the step fails, the run goes on
            exc = problem
        return failure(step, exc or RuntimeError(f"unexpected result from the Dask cluster: {outcome!r}"))
