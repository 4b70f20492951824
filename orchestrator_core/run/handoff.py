"""What executors' threads tell the runner thread: steps that finished, queued steps that started.

The engine queues steps ahead in an executor that ``queues_ahead`` (the thread executor), so
a worker starts the next step without waiting for the runner. The runner still has to know
when each one really started (``orch_before_step`` and the step's timeout count from there) and
must be able to stop queued steps from starting after a failure. Both travel through one
queue, in the order they happened, which the runner drains in batches; a failed attempt closes
the start gate until the runner has seen it.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future


class Handoff:
    """One run's channel from the executors' threads to the runner thread."""

    def __init__(self) -> None:
        # futures as they finish, and (future, monotonic time) as queued steps start
        self._queue: queue.SimpleQueue[Future | tuple[Future, float]] = queue.SimpleQueue()
        # cleared by a failed attempt, set by the runner once it has seen it: holds queued steps back
        self._may_start = threading.Event()
        self._may_start.set()

    def on_start(self, future: Future) -> None:
        """Called on a worker right before a queued step starts: note the time for the runner.

        Waits while a failed attempt the runner has not seen yet holds queued steps back
        (without ``--keep-going`` the run stops, and its queued steps are cancelled).
        """
        self.on_start_unheard(future)
        self._queue.put((future, time.monotonic()))

    def on_start_unheard(self, future: Future) -> None:
        """:meth:`on_start` for a step whose start the runner need not hear of (no timeout, and no
        plugin listens to ``orch_before_step``): the gate only, and nothing for the runner to read."""
        if not self._may_start.is_set():  # reading the flag takes no lock; waiting does
            self._may_start.wait()

    def on_done(self, future: Future) -> None:
        """Called where ``future`` finished: a failed attempt holds queued steps back until the runner saw it."""
        try:
            failed = not future.result().ok
        except BaseException:  # noqa: BLE001 - the executor's own failure, or cancelled
            failed = not future.cancelled()
        if failed:
            self._may_start.clear()
        self._queue.put(future)

    def hold(self) -> None:
        """No queued step starts until :meth:`release` (the runner is deciding whether the run stops)."""
        self._may_start.clear()

    def release(self) -> None:
        if not self._may_start.is_set():
            self._may_start.set()

    def next(self, timeout: float | None) -> list[Future | tuple[Future, float]]:
        """The futures that finished and the start notices of queued steps, in the order they
        came, waiting up to ``timeout`` for a first one; all that came meanwhile is taken at once.

        Each future puts itself here when it is done, so waiting costs the same however
        many steps are running (``concurrent.futures.wait`` registers a waiter on every
        one of them at every call).
        """
        try:
            done = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                done.append(self._queue.get_nowait())
            except queue.Empty:
                return done
