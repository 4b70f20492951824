"""Connections to the state store, lent to request threads.

A SQLite connection costs far more to open than a query costs to run, and the
threading server starts a thread per client connection, so connections are kept in
a pool and reused rather than opened per thread. The pool is bounded both ways: at
most :data:`MAX_OPEN` connections are open at once (each holds three file
descriptors: a burst of clients must not exhaust them), a request waits up to
:data:`WAIT_S` for one and is otherwise answered 503; and at most :data:`MAX_IDLE` are
kept between requests, the others closed as they are given back, so the pool shrinks
after a burst. The store may not exist yet (a server started before the first run):
then there is no connection to lend, and the next request tries again.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Iterator

from orchestrator_core.state.faults import StateStoreError
from orchestrator_core.state.store import DB_NAME, StateStore
from orchestrator_core.server.access import HttpError

MAX_OPEN = 16
MAX_IDLE = 4
WAIT_S = 10.0


class StorePool:
    """Open connections to the store in ``state_dir``, each used by one thread at a time."""

    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self._idle: list[StateStore] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_OPEN)  # one per connection lent out
        self._closed = False

    @property
    def path(self) -> Path:
        return self.state_dir / DB_NAME

    @contextlib.contextmanager
    def store(self, *, wait: float = WAIT_S) -> Iterator[StateStore | None]:
        """A connection for the duration of the block, or ``None`` while no store exists.

        A database error inside the block becomes a 503 for the client; the connection
        is then dropped rather than reused. No connection free within ``wait`` seconds
        is a 503 too.
        """
        if not self._slots.acquire(timeout=wait):
            raise HttpError(503, "busy", f"every connection to the state store stayed busy for {wait:g} s")
        try:
            store = self._take()
        except BaseException:
            self._slots.release()
            raise
        try:
            yield store
        except (sqlite3.Error, StateStoreError) as exc:
            if store is not None:
                store.close()
                store = None
            raise HttpError(503, "store_unavailable", f"the state store failed: {exc}") from None
        finally:
            if store is not None:
                self._give_back(store)
            self._slots.release()

    @property
    def idle(self) -> int:
        """How many connections are open and waiting to be lent."""
        with self._lock:
            return len(self._idle)

    def _take(self) -> StateStore | None:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            try:
                return StateStore.open(self.state_dir, create=False)
            except StateStoreError as exc:
                if exc.damaged:
                    raise
                return StateStore.open_for_reading(self.state_dir)  # a read-only store: reads still work
        except Exception as exc:  # noqa: BLE001 - unreadable file, newer schema, no permission...
            raise HttpError(503, "store_unavailable", f"cannot open the state store {self.path}: {exc}") from None

    def _give_back(self, store: StateStore) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < MAX_IDLE:
                self._idle.append(store)
                return
        store.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for store in idle:
            store.close()
