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
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING
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


class PoolFuture(Future):
    """A ``Future`` that shares its pool's ``Condition`` instead of making its own.

    A ``Future`` makes a ``Condition`` (and its lock) when it is made: ~1 us of the runner's
    time for every step of a fan-out, for a condition the runner never waits on (each
    future tells it when it is done, handoff.py). The futures of one pool share one, so
    one that is waited on (``result(timeout)``) may be woken when another finishes: it
    then waits again, until it is done or the time is up.
    """

    def __init__(self, condition: threading.Condition):  # what Future.__init__ sets, with the shared condition
        self._condition = condition
        self._state = PENDING
        self._result = None
        self._exception = None
        self._waiters: list = []
        self._done_callbacks: list = []

    def result(self, timeout: float | None = None) -> StepResult:
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
        with self._condition:
            while self._state not in _OVER:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return
                self._condition.wait(remaining)


class DaemonPool:
    """Runs step tasks on up to ``size`` daemon threads, started as the work needs them."""

    def __init__(self, size: int, name: str = "orch-step"):
        self.size = max(1, size)
        self.name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0  # live threads still counted as ours
        self._busy = 0  # tasks submitted and neither finished nor written off
        self._events: dict[Future, CancelFlag] = {}
        self._serial = 0
        self._futures_condition = threading.Condition()  # shared by the pool's futures (PoolFuture)

    def submit(self, task: StepTask, run: Callable[[StepTask, CancelFlag], StepResult] = execute_task,
               on_start: Callable[[Future], None] | None = None) -> Future:
        """Queue ``task``; ``on_start(future)``, when given, is called on the worker right before
        the task starts, which it then does only if the future was not cancelled meanwhile."""
        future: Future[StepResult] = PoolFuture(self._futures_condition)
        event = CancelFlag()
        with self._lock:
            self._events[future] = event
            self._busy += 1
            if self._workers < self.size and self._workers < self._busy:
                self._grow()
        self._queue.put((future, task, event, run, on_start))
        return future

    def _grow(self) -> None:
        while self._workers < min(self._busy, self.size):
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
                with self._lock:
                    if self._events.pop(future, None) is not None:  # not through cancel()
                        self._busy -= 1
                continue
            try:
                result = run(task, event)
            except BaseException as exc:  # noqa: BLE001 - hand every failure to the waiter
                future.set_exception(exc)
            else:
                future.set_result(result)
            with self._lock:
                if self._events.pop(future, None) is None:
                    return  # written off by cancel(): a replacement already took its place
                self._busy -= 1

    def cancel(self, future: Future) -> None:
        """Ask the task to stop, stop waiting for it, and replace its worker if it is stuck."""
        with self._lock:
            event = self._events.pop(future, None)
            if event is None:
                return
            self._busy -= 1
            event.set()
            if not future.cancel():  # already running: its thread is written off
                self._workers -= 1
                self._grow()

    def shutdown(self) -> None:
        """Tell running tasks to stop and idle workers to exit; never waits."""
        with self._lock:
            for event in self._events.values():
                event.set()
            workers = self._workers
        for _ in range(workers):
            self._queue.put(_STOP)
