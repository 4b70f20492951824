"""Has anyone committed to the store since we last looked? One read of shared memory tells.

Before each step the runner pulls the writes clients made to the run through ``orch
serve`` (``orch_external_writes``), so that a step sees every write made before it
started. Asking SQLite (``PRAGMA data_version``) costs a statement, ~3-6 µs, at every
step of a run that almost never gets such a write.

In write-ahead-log mode every connection to the database maps the ``-shm`` file (the
WAL index), and every transaction that commits, from any connection or process,
increments the ``iChange`` counter of the index header there (bytes 8-11; the format is
documented at https://www.sqlite.org/walformat.html, "The WAL-Index Header"). Reading
those four bytes through our own read-only mapping of the file costs ~0.2 µs. When they
have not changed since the last look, nothing was committed, by anyone: there is nothing
new to pull. When they have (our own commits change them too), ``data_version`` says
whether another connection committed, as before. Where the file cannot be mapped, every
look says "changed", which falls back to asking SQLite every time.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

HEADER_CHANGE = slice(8, 12)  # iChange in the first copy of the WAL-index header, which a commit writes last


class CommitCounter:
    """The WAL index's change counter of one database, read through a read-only mapping."""

    def __init__(self, database: Path):
        self._map: mmap.mmap | None = None
        try:
            fd = os.open(f"{database}-shm", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return
        try:
            if os.fstat(fd).st_size >= mmap.PAGESIZE:
                self._map = mmap.mmap(fd, mmap.PAGESIZE, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            self._map = None
        finally:
            os.close(fd)  # the mapping stays valid without the descriptor

    def read(self) -> bytes | None:
        """The counter now; ``None`` when it cannot be read (then any change must be assumed)."""
        return self._map[HEADER_CHANGE] if self._map is not None else None

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
