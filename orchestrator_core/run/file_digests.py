"""SHA-256 digests of the files cached steps read, each file read once while it stays unchanged.

A cached step's fingerprint covers the content of the files it declares. Reading a
1 GB input at every run to learn that it did not change would cost more than the
step, so, as make-style tools do, a digest is remembered with the file's stat
signature and trusted while it is the same: size, mtime and ctime (nanoseconds), and
the inode and device of the file the path resolves to. The ctime cannot be set back
by a user (``touch -d``, ``cp -p`` set the mtime only), so a replaced file with the
same size and mtime is still read again; and a path that comes to name another file
with the same size and times (a symlink pointed elsewhere, ``mv data.new data`` of a
folder) is read again because that file is another inode.

A digest is remembered only for a file whose mtime and ctime are older than the
clock's granularity at the moment it was read (:func:`settled`): a file written
again within the same clock tick would otherwise keep its stat and its stale digest
(the "racy git" problem). Such a file is simply read again next time.

The memory lives in the state store (table ``file_digests``, see state/digests.py)
when there is one in ``state_dir``, and in this object for the rest of the run
otherwise; a store that cannot be written only costs re-reading.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator_core.state.digests import Remembered

logger = logging.getLogger("orchestrator.fingerprint")

CHUNK = 1 << 20
# Linux stamps files from a coarse clock (one tick, a few ms); 100 ms is well beyond it.
RACY_WINDOW_NS = 100_000_000
# Some file systems keep whole seconds only: 1 s (ext4 with 128-byte inodes, HFS+, many NFS
# and SMB mounts) or 2 s (FAT). There a file rewritten with the same size within the tick
# of its timestamp keeps its stat, so 100 ms is no protection: 2 s covers the coarsest
# tick, 1 s more a timestamp rounded up and a file server's clock a little ahead of ours.
COARSE_WINDOW_NS = 3_000_000_000
SECOND_NS = 1_000_000_000
# A memory of fewer files than this is read in one query when first needed; a larger one
# is asked a step's files at a time.
LOAD_ALL_BELOW = 20_000


Signature = tuple[int, int, int, int, int]  # size, mtime_ns, ctime_ns, inode, device


def signature(found: os.stat_result) -> Signature:
    """What must stay the same for a remembered digest to be trusted: size, times, and which file it is.

    The inode and device are folded into SQLite's signed 64-bit integers (an overlayfs or
    NFS inode may use the top bit), the same way each time, so they compare equal.
    """
    return (found.st_size, found.st_mtime_ns, found.st_ctime_ns, _signed64(found.st_ino), _signed64(found.st_dev))


def _signed64(number: int) -> int:
    return number - (1 << 64) if number >= 1 << 63 else number


def settled(mtime_ns: int, ctime_ns: int, started_ns: int) -> bool:
    """Whether a file stamped ``mtime_ns``/``ctime_ns``, read from ``started_ns`` on, may be remembered.

    It may when any later write would change its stamps: when both are older than the
    file system's timestamp granularity. A fine-grained file system stamps nanoseconds,
    and its ctime (set by the kernel, never by ``touch -d``) falls on a whole second once
    in a billion; so when both stamps are whole seconds the file system keeps only
    seconds, and the window must cover the coarsest of those (:data:`COARSE_WINDOW_NS`).
    """
    coarse = mtime_ns % SECOND_NS == 0 and ctime_ns % SECOND_NS == 0
    window = COARSE_WINDOW_NS if coarse else RACY_WINDOW_NS
    return max(mtime_ns, ctime_ns) < started_ns - window


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of the bytes of ``path``, read in 1 MiB chunks."""
    import hashlib  # here: it loads OpenSSL (~5 ms), which only a run that hashes a file needs

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class FileDigests:
    """File path → digest, with the stat fast path; one per run (or dry run).

    ``hashed`` counts the files actually read, for ``--log-level DEBUG`` and the benchmark.
    """

    def __init__(self, state_dir: str | Path | None = None, *, remember: bool = True):
        self._state_dir = state_dir
        self._remember = remember
        self._known: dict[str, Remembered] = {}
        self._new: list[tuple[str, int, int, int, int, int, str, float]] = []
        self._memory: Any = None  # state.digests.DigestTable, opened on first use
        self._opened = False
        self._asked: set[str] = set()  # paths already looked up in the memory
        self._all_loaded = False  # the whole (small) table was read at once
        self.hashed = 0

    def prefetch(self, paths: list[str]) -> None:
        """Recall the remembered digests of ``paths`` in one query (a step's declared files)."""
        wanted = [p for p in paths if p not in self._known and p not in self._asked]
        if wanted and self._open() is not None and not self._all_loaded:
            self._known.update(self._memory.get_many(wanted))
            self._asked.update(wanted)

    def digest(self, path: str | Path) -> str | None:
        """The digest of the regular file ``path``, or ``None`` when there is none (missing, a folder)."""
        try:
            found = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(found.st_mode):
            return None
        name = os.fspath(path)
        current = signature(found)
        known = self._known.get(name)
        if known is None and name not in self._asked:
            known = self._recall(name)
        if known is not None and known[:5] == current:
            return known[5]
        started = time.time_ns()
        try:
            value = sha256_file(path)
        except OSError as exc:
            logger.warning("cannot read %s for the cache fingerprint: %s", path, exc)
            return None
        self.hashed += 1
        logger.debug("hashed %s (%d bytes) for the cache fingerprint", path, found.st_size)
        if settled(found.st_mtime_ns, found.st_ctime_ns, started):
            self._known[name] = (*current, value)
            self._new.append((name, *current, value, time.time()))
        else:
            self._known.pop(name, None)
        return value

    def _recall(self, name: str) -> Remembered | None:
        self._asked.add(name)
        memory = self._open()
        if memory is None or self._all_loaded:
            return None
        known = memory.get(name)
        if known is not None:
            self._known[name] = known
        return known

    def _open(self) -> Any:
        if not self._opened:
            self._opened = True
            if self._state_dir is not None:
                from orchestrator_core.state.digests import DigestTable

                self._memory = DigestTable.open(self._state_dir)
                if self._memory is not None:
                    every = self._memory.all_if_fewer_than(LOAD_ALL_BELOW)
                    if every is not None:
                        self._known.update(every)
                        self._all_loaded = True
        return self._memory

    def flush(self) -> None:
        """Remember the digests computed since the last flush (one transaction)."""
        new, self._new = self._new, []
        if new and self._remember and self._open() is not None:
            self._memory.remember(new)

    def close(self) -> None:
        self.flush()
        if self._memory is not None:
            self._memory.close()
        self._memory = None
