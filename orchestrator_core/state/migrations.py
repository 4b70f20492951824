"""The schema of the state store, version by version, and how a database is brought up to date.

Each version is a list of statements applied once, in order, inside one write
transaction; ``PRAGMA user_version`` records the version a database has reached.
A newer ``orch`` therefore opens a database an older one wrote (it applies the
missing versions), and an older ``orch`` refuses a database from a newer one rather
than misreading it. Versions are only ever appended: never edit a published one.
"""

from __future__ import annotations

import sqlite3

from orchestrator_core.errors import OrchError

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # version 1: runs, the result of each step, and every write to the context. Each
    # finished step is one commit, so every index here is paid for on every step: the
    # queries reach step results and writes through the run (``runs_by_recipe``, then
    # the (run, ...) keys) rather than through indexes of their own.
    (
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            recipe TEXT NOT NULL,
            recipe_path TEXT,
            recipe_digest TEXT,
            started REAL NOT NULL,
            finished REAL,
            status TEXT NOT NULL,
            flags TEXT NOT NULL DEFAULT '{}',
            pid INTEGER
        )""",
        "CREATE INDEX runs_by_recipe ON runs (recipe, started)",
        """CREATE TABLE step_results (
            run TEXT NOT NULL,
            step TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            duration_ms REAL,
            cpu_ms REAL,
            peak_rss_kb INTEGER,
            cache TEXT,
            attempts INTEGER NOT NULL DEFAULT 1,
            executor TEXT,
            finished REAL NOT NULL,
            PRIMARY KEY (run, step)
        ) WITHOUT ROWID""",
        """CREATE TABLE context_writes (
            id INTEGER PRIMARY KEY,
            run TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            who TEXT,
            step TEXT,
            ts TEXT
        )""",
        "CREATE INDEX writes_by_run ON context_writes (run, key)",
    ),
    # version 2: where a carried-over write came from, and the last fingerprint of each
    # cacheable step (``orch why`` compares against it)
    (
        "ALTER TABLE context_writes ADD COLUMN source_run TEXT",
        """CREATE TABLE fingerprints (
            recipe TEXT NOT NULL,
            step TEXT NOT NULL,
            key TEXT NOT NULL,
            inputs TEXT NOT NULL,
            run TEXT NOT NULL,
            recorded REAL NOT NULL,
            PRIMARY KEY (recipe, step)
        )""",
    ),
    # version 3: writes made to a run from outside it (a client of ``orch serve``), which
    # the run pulls before each step starts; and the journal of each run's events, which
    # ``orch serve`` streams. The partial index holds only the (few) external writes, so
    # the run's own writes pay nothing for it.
    (
        "ALTER TABLE context_writes ADD COLUMN external INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX external_writes ON context_writes (run, id) WHERE external = 1",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            run TEXT NOT NULL,
            event TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        # Only a run's first event is indexed: the others are found by id from there on, and
        # an index over every event would cost each recorded step a third of its time.
        "CREATE INDEX run_start_events ON events (run) WHERE event = 'run_start'",
    ),
    # version 4: the digest of each file a cached step's fingerprint covered, with the
    # size, mtime and ctime it was computed at, so an unchanged file is not read again
    # (state/digests.py).
    (
        """CREATE TABLE file_digests (
            path TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            ctime_ns INTEGER NOT NULL,
            digest TEXT NOT NULL,
            recorded REAL NOT NULL
        ) WITHOUT ROWID""",
    ),
    # version 5: the inode and device of the file each digest was computed from, so a path
    # that comes to name another file with the same size and times (a symlink pointed
    # elsewhere, a renamed folder) is read again. The rows of version 4 have NULL there,
    # which equals no inode: each such file is read once more, then remembered whole.
    (
        "ALTER TABLE file_digests ADD COLUMN ino INTEGER",
        "ALTER TABLE file_digests ADD COLUMN dev INTEGER",
    ),
    # version 6: how each write combined with the key's value (``set``, ``append``, ``update``;
    # ``merge`` for the value a merge of several writes gave), so a resumed run can rebuild a
    # merged key from the writes of the steps it does not run again (state/replay.py). The
    # rows of earlier versions have NULL there: how their value came about is not known.
    (
        "ALTER TABLE context_writes ADD COLUMN op TEXT",
    ),
)

CURRENT_VERSION = len(MIGRATIONS)


class StateVersionError(OrchError):
    """The database was written by a newer ``orch`` whose schema this one does not know."""

    exit_code = 2


def newer_version_error(path: str, found: int) -> StateVersionError:
    return StateVersionError(f"{path} has state schema version {found}, but this orch knows versions up to "
                             f"{CURRENT_VERSION}: upgrade orch, or use another --state-dir")


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, path: str = "state.db") -> int:
    """Apply the versions ``conn``'s database lacks; return the version it was at.

    The version is read again inside the write transaction, so two processes opening
    a new database at the same moment apply each version once between them.
    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    found = schema_version(conn)
    if found == CURRENT_VERSION:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(conn)
        if found > CURRENT_VERSION:
            raise newer_version_error(path, found)
        for version in range(found + 1, CURRENT_VERSION + 1):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {CURRENT_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
