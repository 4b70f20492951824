"""Connections to the state store, lent to request threads.

A SQLite connection costs far more to open than a query costs to run, and the
threading server starts a thread per client connection, so connections are kept in
a pool and reused rather than opened per thread. The store may not exist yet (a
server started before the first run): then there is no connection to lend, and the
next request tries again.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Iterator

from ..state.faults import StateStoreError
from ..state.store import DB_NAME, StateStore
from .access import HttpError


class StorePool:
    """Open connections to the store in ``state_dir``, each used by one thread at a time."""

    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self._idle: list[StateStore] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def path(self) -> Path:
        return self.state_dir / DB_NAME

    @contextlib.contextmanager
    def store(self) -> Iterator[StateStore | None]:
        """A connection for the duration of the block, or ``None`` while no store exists.

        A database error inside the block becomes a 503 for the client; the connection
        is then dropped rather than reused.
        """
        store = self._take()
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
            if not self._closed:
                self._idle.append(store)
                return
        store.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for store in idle:
            store.close()
