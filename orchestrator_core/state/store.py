"""The state store: SQLite at ``<state dir>/state.db``, opened, kept consistent, written.

Durability comes from SQLite itself: write-ahead logging with ``synchronous=NORMAL``
keeps every committed transaction through a crash or ``kill -9`` of the process
(only a power loss may drop the last few), and the steps that finished since the
last commit are one short transaction, committed before any of them is reported, so a
killed run loses only steps it had not reported as finished (docs/state.md).
Several ``orch`` processes may share one store: writers take the lock up front
(``BEGIN IMMEDIATE``) and wait for each other (busy timeout) instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterator

from orchestrator_core.errors import UsageError
from orchestrator_core.state.faults import StateStoreError, damaged_store, store_error
from orchestrator_core.state.migrations import CURRENT_VERSION, migrate, newer_version_error, schema_version
from orchestrator_core.state.reader import _RUN_COLUMNS, RunRecord, StoreReader, pid_alive

__all__ = ["DB_NAME", "EventRow", "RunRecord", "StateStore", "StoreReader", "WriteRow", "pid_alive", "use_wal"]

DB_NAME = "state.db"
BUSY_TIMEOUT_S = 30.0
# Copy the log back into the database every ~16 MB rather than every 4 MB: a step's
# commit touches the same few pages as the one before, and a checkpoint copies each
# page once however often it changed, so fewer checkpoints cost less per step. The log
# file is removed when the last connection closes.
WAL_CHECKPOINT_PAGES = 4000

# The tables of the current schema: a store of this version without one of them is damaged.
TABLES = ("runs", "step_results", "context_writes", "fingerprints", "events")

WriteRow = tuple  # (run, key, value JSON, who, step, ts, source_run, op)
EventRow = tuple  # (run, event name, record JSON): one line of the run's journal of events


@contextlib.contextmanager
def _closed_on_failure(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    """Close ``conn`` when opening the store fails; SQLite's errors become one :class:`StateStoreError`."""
    try:
        yield
    except sqlite3.Error as exc:
        conn.close()
        raise store_error(exc, path) from None
    except BaseException:
        conn.close()
        raise


def use_wal(conn: sqlite3.Connection) -> None:
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
            import random  # only two processes creating one store together get here

            time.sleep(0.005 + random.random() * 0.02)


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; ``immutable`` where SQLite cannot even create its shared-memory file.

    A store in write-ahead-log mode needs a ``-shm`` file beside it to be read; in a
    directory we may not write to (a read-only mount) and with no such file left, the
    only way in is to tell SQLite that nobody writes the file, which is then true for us.
    Raises ``sqlite3.Error`` (not a database, cannot open...).
    """
    uri = path.resolve().as_uri()
    conn = None
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        if not getattr(exc, "sqlite_errorname", "").startswith("SQLITE_CANTOPEN"):
            raise
    conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _check_tables(conn: sqlite3.Connection, path: Path) -> None:
    present = _tables(conn)
    missing = [name for name in TABLES if name not in present]
    if missing:
        raise damaged_store(path, f"table{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing")


class StateStore(StoreReader):
    """One connection to a state database, in autocommit mode with explicit transactions."""

    Error = sqlite3.Error

    def __init__(self, conn: sqlite3.Connection, path: Path):
        super().__init__(conn, path)
        self._inode = path.stat().st_ino
        self._where = str(path)

    def is_at(self, state_dir: str | Path) -> bool:
        """Whether this connection is to the database now at ``state_dir`` (not a deleted one)."""
        return Path(state_dir) / DB_NAME == self.path and self.still_there()

    def still_there(self) -> bool:
        """Whether the file this connection writes is still the one at its path.

        A connection keeps writing to a database file that was deleted (``rm -rf
        .orch``) or replaced, and nobody will ever read those writes: one ``stat``
        tells.
        """
        try:
            return os.stat(self._where).st_ino == self._inode
        except OSError:
            return False

    @classmethod
    def open(cls, state_dir: str | Path, *, create: bool = True) -> StateStore | None:
        """Open (and bring up to date) the store in ``state_dir`` for writing.

        With ``create=False`` a missing database gives ``None`` instead of a new file.
        A store that cannot be opened, or is not a state store, raises
        :class:`StateStoreError` (or ``StateVersionError`` for a newer schema).
        """
        path = Path(state_dir) / DB_NAME
        if not path.exists():
            if not create:
                return None
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise store_error(exc, path) from None
        try:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise store_error(exc, path) from None
        with _closed_on_failure(conn, path):
            use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            migrate(conn, str(path))
            _check_tables(conn, path)
        return cls(conn, path)

    @classmethod
    def open_for_reading(cls, state_dir: str | Path) -> StateStore | None:
        """The store in ``state_dir`` opened read-only, or ``None`` when no run was ever recorded there.

        Reading changes nothing: no switch to write-ahead logging, no migration, so a
        store on a read-only mount or of another user reads as well as one's own. A
        store of an older schema is brought up to date through :meth:`open` when it is
        writable (an error saying so when it is not). Raises :class:`StateStoreError`.
        """
        path = Path(state_dir) / DB_NAME
        if not path.exists():
            return None
        if path.is_dir():
            raise damaged_store(path, "it is a directory, not a database file")
        try:
            conn = connect_read_only(path)
        except sqlite3.Error as exc:
            raise store_error(exc, path) from None
        with _closed_on_failure(conn, path):
            version = schema_version(conn)
            if version == 0 and not _tables(conn):
                conn.close()
                return None  # an empty file: nothing was ever recorded in it
            if version > CURRENT_VERSION:
                raise newer_version_error(str(path), version)
            if version < CURRENT_VERSION:
                conn.close()
                return cls._upgraded(state_dir, path, version)
            _check_tables(conn, path)
        return cls(conn, path)

    @classmethod
    def _upgraded(cls, state_dir: str | Path, path: Path, version: int) -> StateStore | None:
        try:
            return cls.open(state_dir, create=False)
        except StateStoreError as exc:
            raise StateStoreError(
                f"state store {path} has schema version {version}, older than this orch's {CURRENT_VERSION}, "
                f"and cannot be brought up to date: {str(exc).split(': ', 1)[-1]}"
            ) from None

    @classmethod
    def open_recorded(cls, state_dir: str | Path) -> StateStore:
        """The store in ``state_dir`` for a command that reads it; a :class:`UsageError`
        (exit status 2) when no run was ever recorded there."""
        store = cls.open_for_reading(state_dir)
        path = Path(state_dir) / DB_NAME
        if store is None and path.exists():  # an empty database
            raise UsageError(f"the state store {path} holds no run yet (run a recipe first: orch run RECIPE)")
        if store is None:
            raise UsageError(f"no state store at {path}: no run has been recorded there yet "
                             "(run a recipe first: orch run RECIPE)")
        return store

    def close(self) -> None:
        self.conn.close()

    def quick_check(self) -> None:
        """Read every page once (SQLite's ``quick_check``): a damaged page anywhere raises
        :class:`StateStoreError`. For a process that serves the store for hours, not for each command."""
        try:
            verdicts = [" ".join(row[0].split()) for row in self.conn.execute("PRAGMA quick_check(3)")]
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from None
        if verdicts != ["ok"]:
            raise damaged_store(self.path, f"SQLite's quick check fails ({'; '.join(verdicts)})")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the lock from the start (no deadlock on upgrade)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
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

    def record_steps(self, results: list[tuple], writes: list[WriteRow],
                     fingerprints: list[tuple[str, str, str, str, str, float]] = (),  # type: ignore[assignment]
                     events: list[EventRow] = ()) -> None:  # type: ignore[assignment]
        """Insert finished steps, the writes they made and events, in one transaction.

        Each of ``results`` is ``(run, step, status, error JSON, duration_ms, cpu_ms,
        peak_rss_kb, cache, attempts, executor, finished)``. Each of ``fingerprints`` is
        ``(recipe, step, key, inputs JSON, run, time)``: a step's latest cache
        fingerprint, which replaces the one recorded before. ``events`` go into the
        journal in the order given.
        """
        conn = self.conn  # the hot path of recording: no context manager, one commit
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO step_results (run, step, status, error, duration_ms, cpu_ms,"
                " peak_rss_kb, cache, attempts, executor, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                results,
            )
            if writes:
                self._insert_writes(conn, writes)
            if fingerprints:
                conn.executemany("INSERT OR REPLACE INTO fingerprints (recipe, step, key, inputs, run, recorded)"
                                 " VALUES (?, ?, ?, ?, ?, ?)", fingerprints)
            self._insert_events(conn, events)
        except BaseException:
            if conn.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
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
                "INSERT INTO context_writes (run, key, value, who, step, ts, source_run, external, op)"
                " VALUES (?, ?, ?, ?, NULL, ?, NULL, 1, 'set')", (run_id, key, value, who, ts),
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
                "INSERT INTO context_writes (run, key, value, who, step, ts, source_run, op)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", writes,
            )
