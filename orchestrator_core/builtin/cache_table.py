"""Where the built-in cache keeps its entries: one SQLite table in ``<state dir>/cache/entries.db``.

One file per entry cost every stored miss a file created and renamed into place: in
the kernel, that is several times what the step itself costs a no-op step (measured:
~0.2-1 ms of CPU a store on ext4 under load, against ~30 us for one SQLite commit).
Reading an entry back costs about the same either way (a few us), so the table is
chosen for what it saves the runs that store.

The table is its own database, not part of the state store: the cache is a plugin,
``orch cache clear`` empties it without touching the recorded runs, and deleting the
state store leaves it. Write-ahead logging lets a run read while another stores, and a
stored row is whole or absent, as the renamed files were. Any failure to open, read or
write is reported by raising :class:`sqlite3.Error` or :class:`OSError` to the caller,
which turns it into a miss (or an entry not stored) with a warning.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

FILE_NAME = "entries.db"
BUSY_TIMEOUT_MS = 5000

_SCHEMA = "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, entry TEXT NOT NULL, stored REAL NOT NULL)"


class EntryTable:
    """Fingerprint → entry text (the JSON document of cache_local.py), in one folder's database.

    Opened on first use and kept for the process; the runner thread and a dry run may
    both use it, so calls are serialised by a lock (each is one statement).
    """

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / FILE_NAME
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self, create: bool) -> sqlite3.Connection | None:
        if self._conn is None:
            if not create and not self.path.exists():
                return None  # nothing stored yet: a miss, and no folder made for it
            from orchestrator_core.state.store import use_wal  # the store's module, when a table is opened

            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                use_wal(conn)  # two runs creating the table at once: one switches, the other waits
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def get(self, key: str) -> str | None:
        """The entry text stored for ``key``, ``None`` when there is none."""
        with self._lock:
            conn = self._connection(create=False)
            if conn is None:
                return None
            row = conn.execute("SELECT entry FROM entries WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, entry: str) -> None:
        """Store ``entry`` for ``key`` (replacing any), committed before it returns."""
        with self._lock:
            conn = self._connection(create=True)
            assert conn is not None
            conn.execute("INSERT OR REPLACE INTO entries (key, entry, stored) VALUES (?, ?, ?)",
                         (key, entry, time.time()))

    def count(self) -> int:
        with self._lock:
            conn = self._connection(create=False)
            return conn.execute("SELECT count(*) FROM entries").fetchone()[0] if conn is not None else 0

    def clear(self) -> int:
        """Remove every entry; return how many there were."""
        with self._lock:
            conn = self._connection(create=False)
            if conn is None:
                return 0
            return conn.execute("DELETE FROM entries").rowcount

    def remove(self) -> None:
        """Delete the database files (closed first): what clearing does to one that is not a database."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
