"""The state store: SQLite at ``<state dir>/state.db``, opened, kept consistent, written.

Durability comes from SQLite itself: write-ahead logging with ``synchronous=NORMAL``
keeps every committed transaction through a crash or ``kill -9`` of the process
(only a power loss may drop the last few), and each finished step is one short
transaction, so a killed run loses at most the steps that were still running.
Several ``orch`` processes may share one store: writers take the lock up front
(``BEGIN IMMEDIATE``) and wait for each other (busy timeout) instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import time
from pathlib import Path
from typing import Iterator

from ..errors import UsageError
from .migrations import migrate
from .reader import _RUN_COLUMNS, RunRecord, StoreReader, pid_alive

__all__ = ["DB_NAME", "EventRow", "RunRecord", "StateStore", "StoreReader", "WriteRow", "pid_alive"]

DB_NAME = "state.db"
BUSY_TIMEOUT_S = 30.0
# Copy the log back into the database every ~16 MB rather than every 4 MB: a step's
# commit touches the same few pages as the one before, and a checkpoint copies each
# page once however often it changed, so fewer checkpoints cost less per step. The log
# file is removed when the last connection closes.
WAL_CHECKPOINT_PAGES = 4000

WriteRow = tuple  # (run, key, value JSON, who, step, ts, source_run)
EventRow = tuple  # (run, event name, record JSON): one line of the run's journal of events


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the database in write-ahead-log mode (a lasting property of the file).

    Switching needs a moment of exclusive access, and SQLite reports a busy database
    at once instead of waiting when two processes create the store together; so
    retry, within the busy timeout, until one of them has switched it.
    """
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005 + random.random() * 0.02)


class StateStore(StoreReader):
    """One connection to a state database, in autocommit mode with explicit transactions."""

    Error = sqlite3.Error

    def __init__(self, conn: sqlite3.Connection, path: Path):
        super().__init__(conn, path)
        self._inode = path.stat().st_ino

    def is_at(self, state_dir: str | Path) -> bool:
        """Whether this connection is to the database now at ``state_dir`` (not a deleted one)."""
        path = Path(state_dir) / DB_NAME
        try:
            return path == self.path and path.stat().st_ino == self._inode
        except OSError:
            return False

    @classmethod
    def open(cls, state_dir: str | Path, *, create: bool = True) -> StateStore | None:
        """Open (and bring up to date) the store in ``state_dir``.

        With ``create=False`` a missing database gives ``None`` instead of a new file,
        so commands that only read never leave a ``.orch`` folder behind.
        """
        path = Path(state_dir) / DB_NAME
        if not path.exists():
            if not create:
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        try:
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            migrate(conn, str(path))
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    @classmethod
    def open_recorded(cls, state_dir: str | Path) -> StateStore:
        """The store in ``state_dir`` for a command that reads it; a :class:`UsageError`
        (exit status 2) when no run was ever recorded there."""
        store = cls.open(state_dir, create=False)
        if store is None:
            raise UsageError(f"no state store at {Path(state_dir) / DB_NAME}: no run has been recorded there yet "
                             "(run a recipe first: orch run RECIPE)")
        return store

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the lock from the start (no deadlock on upgrade)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------------
    def start_run(self, run: RunRecord, writes: list[WriteRow], event: EventRow | None = None) -> None:
        """Insert a run, the writes its context starts with and its ``run_start`` event, in one transaction."""
        with self.transaction() as conn:
            conn.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run.id, run.recipe, run.recipe_path, run.recipe_digest, run.started, run.finished,
                 run.status, json.dumps(run.flags, default=str), run.pid),
            )
            self._insert_writes(conn, writes)
            self._insert_event(conn, event)

    def record_step(self, result: tuple, writes: list[WriteRow],
                    fingerprint: tuple[str, str, str, str, str, float] | None = None,
                    events: list[EventRow] = ()) -> None:  # type: ignore[assignment]
        """Insert one finished step, the writes it made and events, in one transaction.

        ``events`` are the step's own ``step_finish`` (or ``step_error``) record, after
        any step starts not yet journaled.

        ``result`` is ``(run, step, status, error JSON, duration_ms, cpu_ms, peak_rss_kb,
        cache, attempts, executor, finished)``. ``fingerprint`` is ``(recipe, step, key, inputs JSON, run, time)``: the step's
        latest cache fingerprint, which replaces the one recorded before.
        """
        conn = self.conn  # the hot path of recording: no context manager, one commit
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT OR REPLACE INTO step_results (run, step, status, error, duration_ms, cpu_ms,"
                " peak_rss_kb, cache, attempts, executor, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                result,
            )
            if writes:
                self._insert_writes(conn, writes)
            if fingerprint is not None:
                conn.execute("INSERT OR REPLACE INTO fingerprints (recipe, step, key, inputs, run, recorded)"
                             " VALUES (?, ?, ?, ?, ?, ?)", fingerprint)
            self._insert_events(conn, events)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def finish_run(self, run_id: str, status: str, finished: float, writes: list[WriteRow],
                   events: list[EventRow] = ()) -> None:  # type: ignore[assignment]
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET status = ?, finished = ? WHERE id = ?", (status, finished, run_id))
            self._insert_writes(conn, writes)
            self._insert_events(conn, events)

    def record_events(self, events: list[EventRow]) -> None:
        """Append events to the run's journal on their own (steps that started a while ago)."""
        with self.transaction() as conn:
            self._insert_events(conn, events)

    def record_external_write(self, run_id: str, key: str, value: str, who: str, ts: str,
                              event: str) -> int | None:
        """Record a write a client made to run ``run_id`` and its ``context_write`` event; its id.

        ``None`` when the run does not exist. The write is marked ``external`` so the
        run, while it is running, pulls it into its context (``external_writes``).
        """
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                return None
            cursor = conn.execute(
                "INSERT INTO context_writes (run, key, value, who, step, ts, source_run, external)"
                " VALUES (?, ?, ?, ?, NULL, ?, NULL, 1)", (run_id, key, value, who, ts),
            )
            self._insert_event(conn, (run_id, "context_write", event))
            return cursor.lastrowid

    @staticmethod
    def _insert_event(conn: sqlite3.Connection, event: EventRow | None) -> None:
        if event is not None:
            conn.execute("INSERT INTO events (run, event, data) VALUES (?, ?, ?)", event)

    @staticmethod
    def _insert_events(conn: sqlite3.Connection, events: list[EventRow]) -> None:
        if events:
            conn.executemany("INSERT INTO events (run, event, data) VALUES (?, ?, ?)", events)

    @staticmethod
    def _insert_writes(conn: sqlite3.Connection, writes: list[WriteRow]) -> None:
        if writes:
            conn.executemany(
                "INSERT INTO context_writes (run, key, value, who, step, ts, source_run)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", writes,
            )
