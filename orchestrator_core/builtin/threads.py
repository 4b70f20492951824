"""A small pool of daemon threads whose stuck workers can be abandoned.

``concurrent.futures.ThreadPoolExecutor`` joins its threads at interpreter exit,
so one step stuck in an endless loop would keep ``orch`` from exiting after a
timeout or Ctrl-C. Here a cancelled task's worker is written off and replaced,
and the process can always exit.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING, RUNNING, InvalidStateError
from typing import Callable

from orchestrator_core.run.execution import execute_task
from orchestrator_core.model import StepResult, StepTask

_STOP = object()
_OVER = (FINISHED, CANCELLED, CANCELLED_AND_NOTIFIED)  # the states of a future that is done


class CancelFlag:
    """What a step's ``ctx.cancelled`` reads: set once, read often, never waited on.

    Cheaper to make than a ``threading.Event`` (a lock and a condition), which every
    task of the pool would otherwise pay for; setting or reading a bool needs no lock.
    """

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


class _Shared:
    """What the futures of one pool share: one lock, one condition on it, and how many wait on it."""

    __slots__ = ("lock", "condition", "waiting")

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.condition = threading.Condition(self.lock)
        self.waiting = 0  # threads in PoolFuture._wait: nobody to notify when 0


class PoolFuture(Future):
    """A ``Future`` that shares its pool's lock and ``Condition`` instead of making its own.

    A ``Future`` makes a ``Condition`` (and its lock) when it is made, and goes through the
    condition's Python-level ``__enter__``/``__exit__`` at each change of state: several us
    of the runner's time for every step of a fan-out, for a condition the runner never waits
    on (each future tells it when it is done, handoff.py). The futures of one pool share one
    lock, taken directly, and the condition on it is notified only while somebody waits
    (``result(timeout)``); a waiter woken when another future finishes waits again, until it
    is done or the time is up. ``concurrent.futures.wait`` and ``as_completed`` work as with
    any ``Future`` (their waiters are told at each change of state, as ``Future`` does).
    """

    def __init__(self, shared: _Shared):  # what Future.__init__ sets, with the shared condition
        self._shared = shared
        self._condition = shared.condition
        self._state = PENDING
        self._result = None
        self._exception = None
        self._waiters: list = []
        self._done_callbacks: list = []

    def _notify(self) -> None:
        if self._shared.waiting:
            self._condition.notify_all()

    def set_running_or_notify_cancel(self) -> bool:
        with self._shared.lock:
            if self._state == PENDING:
                self._state = RUNNING
                return True
        return super().set_running_or_notify_cancel()  # cancelled (or misused): as Future does

    def set_result(self, result: StepResult) -> None:
        self._settle("_result", result, "add_result")

    def set_exception(self, exception: BaseException | None) -> None:
        self._settle("_exception", exception, "add_exception")

    def _settle(self, slot: str, value: object, tell: str) -> None:
        """Finish with ``value`` in ``slot``, telling the waiters (``tell``) and the callbacks, as ``Future`` does."""
        with self._shared.lock:
            if self._state in _OVER:
                raise InvalidStateError(f"{self._state}: {self!r}")
            setattr(self, slot, value)
            self._state = FINISHED
            for waiter in self._waiters:
                getattr(waiter, tell)(self)
            self._notify()
        self._invoke_callbacks()

    def cancel(self) -> bool:
        with self._shared.lock:
            if self._state in (RUNNING, FINISHED):
                return False
            if self._state in (CANCELLED, CANCELLED_AND_NOTIFIED):
                return True
            self._state = CANCELLED
            self._notify()
        self._invoke_callbacks()
        return True

    def add_done_callback(self, fn: Callable[[Future], object]) -> None:
        with self._shared.lock:
            if self._state not in _OVER:
                self._done_callbacks.append(fn)
                return
        super().add_done_callback(fn)  # done already: called now, as Future does

    def done(self) -> bool:
        return self._state in _OVER  # one read of a state only ever set under the lock

    def result(self, timeout: float | None = None) -> StepResult:
        if self._state == FINISHED:  # set after the result or exception, under the lock
            if self._exception is not None:
                raise self._exception
            return self._result
        if self._state not in _OVER:  # read without the lock: a stale answer only means waiting
            self._wait(timeout)
        return super().result(0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self._state not in _OVER:
            self._wait(timeout)
        return super().exception(0)

    def _wait(self, timeout: float | None) -> None:
        """Wait until this future is done or ``timeout`` seconds passed, however often the condition is notified."""
        deadline = None if timeout is None else time.monotonic() + timeout
        shared = self._shared
        with self._condition:
            shared.waiting += 1
            try:
                while self._state not in _OVER:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return
                    self._condition.wait(remaining)
            finally:
                shared.waiting -= 1


_FINISHED_SHARED = _Shared()  # the lock of futures made finished (finished_future): taken only by a late callback


def finished_future(result: StepResult) -> Future:
    """A future already holding ``result``: what an executor that ran the step on the spot
    returns (``inline``), without the ``Condition`` a ``Future`` makes and takes at each call."""
    future = PoolFuture(_FINISHED_SHARED)
    future._result = result
    future._state = FINISHED
    return future


class DaemonPool:
    """Runs step tasks on up to ``size`` daemon threads, started as the work needs them.

    ``_events`` holds the cancel flag of every task submitted and neither finished nor
    written off; a task leaves it exactly once, by one atomic ``dict.pop`` (the worker's when
    it finishes or finds it cancelled, or :meth:`cancel`'s), so whoever takes it out decides
    its fate without a lock. The lock guards only the count of workers.
    """

    def __init__(self, size: int, name: str = "orch-step"):
        self.size = max(1, size)
        self.name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0  # live threads still counted as ours
        self._events: dict[Future, CancelFlag] = {}  # its length: tasks neither finished nor written off
        self._serial = 0
        self._shared = _Shared()  # the lock and condition of the pool's futures (PoolFuture)

    def submit(self, task: StepTask, run: Callable[[StepTask, CancelFlag], StepResult] = execute_task,
               on_start: Callable[[Future], None] | None = None) -> Future:
        """Queue ``task``; ``on_start(future)``, when given, is called on the worker right before
        the task starts, which it then does only if the future was not cancelled meanwhile."""
        future: Future[StepResult] = PoolFuture(self._shared)
        event = CancelFlag()
        self._events[future] = event
        if self._workers < self.size and self._workers < len(self._events):  # checked again under the lock
            with self._lock:
                self._grow()
        self._queue.put((future, task, event, run, on_start))
        return future

    def _grow(self) -> None:
        while self._workers < min(len(self._events), self.size):
            self._workers += 1
            self._serial += 1
            threading.Thread(target=self._work, name=f"{self.name}-{self._serial}", daemon=True).start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            future, task, event, run, on_start = item
            if on_start is not None:
                on_start(future)
            if not future.set_running_or_notify_cancel():  # cancelled while queued
                self._events.pop(future, None)  # unless cancel() took it out already
                continue
            try:
                result = run(task, event)
            except BaseException as exc:  # noqa: BLE001 - hand every failure to the waiter
                future.set_exception(exc)
            else:
                future.set_result(result)
            if self._events.pop(future, None) is None:
                return  # written off by cancel(): a replacement already took its place

    def cancel(self, future: Future) -> None:
        """Ask the task to stop, stop waiting for it, and replace its worker if it is stuck."""
        event = self._events.pop(future, None)
        if event is None:
            return  # finished, or cancelled before
        event.set()
        if not future.cancel():  # already running: its thread is written off
            with self._lock:
                self._workers -= 1
                self._grow()

    def shutdown(self) -> None:
        """Tell running tasks to stop and idle workers to exit; never waits."""
        for event in list(self._events.values()):
            event.set()
        with self._lock:
            workers = self._workers
        for _ in range(workers):
            self._queue.put(_STOP)
