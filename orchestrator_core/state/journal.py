"""When a step's start reaches the events journal: with the next commit, or after a short wait.

A dashboard wants to see a step running, but a commit of its own for every step start
would double the transactions of a run (about 130 µs a step here). So a start waits
in memory: the next transaction the run makes anyway (a step finishing, the run
ending) carries it, in order, ahead of that transaction's own event. Only when no
such transaction comes within ``DELAY_S`` (a step that takes a while) does a
background thread commit the waiting starts on their own.

The thread must not slow the run down. Waking it for each start would cost a thread
switch per step, so it is never woken: it looks every ``DELAY_S`` (so a start waits
at most twice that), takes no lock just to look, and takes
:attr:`StartJournal.commit_lock`, which the run holds for each of its commits, only
when it has starts to commit. Both sides take the waiting starts inside that lock,
so the journal's order is the order things happened in.

Finished steps are recorded in groups (``orch_record_steps``), so a step may start
while steps that finished before it are not yet committed. Each start is kept with
the number of steps of the run that had finished when it started: the recorder puts
it after exactly those steps' finish events, and the thread commits on its own only
the starts whose earlier finishes are already in the store.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from orchestrator_core.state.store import EventRow, StateStore

DELAY_S = 0.015


class StartJournal:
    """Step-start events of one run on their way to the store."""

    def __init__(self, store: StateStore, *, delay_s: float = DELAY_S, on_error: Callable[[Exception], None],
                 committed: Callable[[], int] = lambda: sys.maxsize):
        self.commit_lock = threading.Lock()  # held around every transaction that carries events
        self._store = store
        self._delay_s = delay_s
        self._on_error = on_error
        self._committed = committed  # how many finished steps of the run are in the store
        self._waiting: list[tuple[int, EventRow]] = []  # (steps finished before it, the start)
        self._waiting_lock = threading.Lock()  # held for an append or a swap, never across I/O
        self._since: float | None = None  # when the oldest waiting start was added
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, event: EventRow, *, after: int = 0) -> None:
        """Keep a step's start; ``after`` steps of the run had finished when it started."""
        with self._waiting_lock:
            self._waiting.append((after, event))
            if self._since is None:
                self._since = time.monotonic()
        if self._thread is None:
            self._thread = threading.Thread(target=self._commit_late_starts, name="orch-state-journal", daemon=True)
            self._thread.start()

    def take(self) -> list[EventRow]:
        """The waiting starts, for the caller's transaction; call with :attr:`commit_lock` held."""
        return [event for _, event in self.take_placed()]

    def take_placed(self, committed: int | None = None) -> list[tuple[int, EventRow]]:
        """The waiting starts with their ``after``; with ``committed``, only those after at most that many steps.

        Call with :attr:`commit_lock` held. Starts come in the order they were added,
        so those left are the latest, waiting for their earlier finishes to be recorded.
        """
        with self._waiting_lock:
            waiting = self._waiting
            cut = len(waiting)
            if committed is not None:
                while cut and waiting[cut - 1][0] > committed:
                    cut -= 1
            taken, self._waiting = waiting[:cut], waiting[cut:]
            self._since = time.monotonic() if self._waiting else None
        return taken

    def close(self) -> None:
        """Stop the background thread; what still waits is for the caller's last transaction."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout=1)

    def _commit_late_starts(self) -> None:
        while not self._closing.wait(self._delay_s):
            since = self._since
            if since is None or time.monotonic() - since < self._delay_s:
                continue
            with self.commit_lock:
                events = [event for _, event in self.take_placed(self._committed())]
                if events:
                    try:
                        self._store.record_events(events)
                    except self._store.Error as exc:
                        self._on_error(exc)
