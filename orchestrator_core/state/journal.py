"""When a step's start reaches the events journal: with the next commit, or after a short wait.

A dashboard wants to see a step running, but a commit of its own for every step start
would double the transactions of a run (about 40 µs a step here). So a start waits
in memory: the next transaction the run makes anyway (a step finishing, the run
ending) carries it, in order, ahead of that transaction's own event. Only when no
such transaction comes within ``DELAY_S`` (a step that takes a while) does a
background thread commit the waiting starts on their own. Every transaction that
carries events takes :attr:`StartJournal.lock`, so the journal's order is the order
things happened in.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .store import EventRow, StateStore

DELAY_S = 0.015


class StartJournal:
    """Step-start events of one run on their way to the store."""

    def __init__(self, store: StateStore, *, delay_s: float = DELAY_S, on_error: Callable[[Exception], None]):
        self.lock = threading.Condition(threading.Lock())
        self._store = store
        self._delay_s = delay_s
        self._on_error = on_error
        self._waiting: list[EventRow] = []
        self._since: float | None = None  # when the oldest waiting start was added
        self._closed = False
        self._idle = True  # the thread waits for a first start, with no deadline
        self._thread: threading.Thread | None = None

    def add(self, event: EventRow) -> None:
        with self.lock:
            self._waiting.append(event)
            if self._since is None:
                self._since = time.monotonic()
                if self._thread is None:
                    self._thread = threading.Thread(target=self._flush_late_starts, name="orch-state-journal",
                                                    daemon=True)
                    self._thread.start()
                elif self._idle:  # a waiting thread with a deadline wakes by itself: no switch per step
                    self.lock.notify()

    def take(self) -> list[EventRow]:
        """The waiting starts, to go into the caller's transaction; call with :attr:`lock` held."""
        waiting, self._waiting, self._since = self._waiting, [], None
        return waiting

    def close(self) -> None:
        """Stop the background thread; what still waits is for the caller's last transaction."""
        with self.lock:
            self._closed = True
            self.lock.notify()
        if self._thread is not None:
            self._thread.join(timeout=1)

    def _flush_late_starts(self) -> None:
        with self.lock:
            while not self._closed:
                if self._since is None:
                    self._idle = True
                    self.lock.wait()
                    continue
                self._idle = False
                left = self._since + self._delay_s - time.monotonic()
                if left > 0:
                    self.lock.wait(left)
                    continue
                events = self.take()
                try:
                    self._store.record_events(events)
                except self._store.Error as exc:
                    self._on_error(exc)
