"""The ``file_digests`` table: the remembered digest of each file a fingerprint covered.

A connection of its own to the state store, opened by the runner when a cached step
declares files (the recorder's connection belongs to the recorder's thread of work).
Failing to read or write it is never an error: the file is read again instead. A path
that is not UTF-8 (surrogates.py) is neither looked up nor remembered, since SQLite's
text cannot hold it: such a file is read at every run.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from orchestrator_core.surrogates import is_utf8

logger = logging.getLogger("orchestrator.fingerprint")

# A remembered digest: the file's size, mtime_ns, ctime_ns, inode and device, then its digest.
Remembered = tuple[int, int, int, int, int, str]
_COLUMNS = "size, mtime_ns, ctime_ns, ino, dev, digest"


class DigestTable:
    """Reads and writes ``file_digests``; every failure degrades to "not remembered"."""

    def __init__(self, store: object):
        self._store = store

    @classmethod
    def open(cls, state_dir: str | Path) -> DigestTable | None:
        """The table of the store in ``state_dir``; ``None`` when there is no store (none is created)."""
        from orchestrator_core.state.store import StateStore

        try:
            store = StateStore.open(state_dir, create=False)
        except (sqlite3.Error, OSError) as exc:
            logger.warning("state store in %s not usable for file digests (%s): files are read every run",
                           state_dir, exc)
            return None
        return cls(store) if store is not None else None

    def get(self, path: str) -> Remembered | None:
        if not is_utf8(path):
            return None
        try:
            row = self._store.conn.execute(  # type: ignore[attr-defined]
                f"SELECT {_COLUMNS} FROM file_digests WHERE path = ?", (path,)).fetchone()
        except sqlite3.Error as exc:
            logger.debug("file digest of %s not read from the state store: %s", path, exc)
            return None
        return tuple(row) if row else None  # type: ignore[return-value]

    def all_if_fewer_than(self, limit: int) -> dict[str, Remembered] | None:
        """Every remembered digest, when fewer than ``limit`` are; else ``None``."""
        try:
            conn = self._store.conn  # type: ignore[attr-defined]
            if conn.execute("SELECT count(*) FROM file_digests").fetchone()[0] >= limit:
                return None
            return {path: tuple(row) for path, *row in conn.execute(  # type: ignore[misc]
                f"SELECT path, {_COLUMNS} FROM file_digests")}
        except sqlite3.Error as exc:
            logger.debug("file digests not read from the state store: %s", exc)
            return None

    def get_many(self, paths: list[str]) -> dict[str, Remembered]:
        """Path → (size, mtime_ns, ctime_ns, ino, dev, digest) for those of ``paths`` remembered."""
        found: dict[str, Remembered] = {}
        paths = [path for path in paths if is_utf8(path)]
        try:
            for start in range(0, len(paths), 500):
                chunk = paths[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for path, *row in self._store.conn.execute(  # type: ignore[attr-defined]
                        f"SELECT path, {_COLUMNS} FROM file_digests WHERE path IN ({marks})",
                        chunk):
                    found[path] = tuple(row)  # type: ignore[assignment]
        except sqlite3.Error as exc:
            logger.debug("file digests not read from the state store: %s", exc)
        return found

    def remember(self, rows: list[tuple[str, int, int, int, int, int, str, float]]) -> None:
        rows = [row for row in rows if is_utf8(row[0])]
        try:
            with self._store.transaction() as conn:  # type: ignore[attr-defined]
                conn.executemany(f"INSERT OR REPLACE INTO file_digests (path, {_COLUMNS}, recorded) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            logger.warning("file digests not remembered in the state store (%s): they are read again next run", exc)

    def close(self) -> None:
        self._store.close()  # type: ignore[attr-defined]
