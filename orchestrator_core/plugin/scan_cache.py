"""What the entry-point scan read, kept per interpreter: a start opens no distribution's files.

Finding the installed plugins (:mod:`~orchestrator_core.plugin.entrypoints`) lists every
``sys.path`` folder and opens every distribution's ``entry_points.txt``: 2-3 ms of every
``orch`` start with 50 distributions installed, several times that in a data team's
environment of hundreds. What those reads give changes only with what the file system
stamps: a folder's listing only with its mtime (adding, removing or renaming an entry sets
it), a file's content only with its size, mtime, ctime or inode. So this keeps, for each
folder that holds distributions, the names of their metadata folders, and for each
``entry_points.txt`` what it declares (and, once a group needs it, the distribution's name
and version from its ``METADATA``), each with the stamps it was read at. A later scan
``stat``s instead of reading, and reads again whatever's stamps differ.

A stamp too recent to tell a later change from this one (:func:`~orchestrator_core.run.
file_digests.settled`: a write in the same clock tick) is not kept. The cache is one file
per interpreter in the user's cache folder (``entry-points/``), written whole and only when
what it holds changed; one that is damaged, of another format or not private to the user
is ignored (and written again). ``ORCH_NO_SCAN_CACHE=1`` turns it off.
"""

from __future__ import annotations

import marshal
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from orchestrator_core.digest import builtin_sha256_hex
from orchestrator_core.user_cache import cache_root, is_private, make_private, write_whole

DISABLE_ENV = "ORCH_NO_SCAN_CACHE"
_FORMAT = "orch entry-point scan 1"

Stamp = tuple[int, ...]
_INTERPRETER_FOLDERS = tuple({"d:" + os.path.join(prefix, "")
                              for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)})


def _stamp(path: str) -> Stamp | None:
    """What changes when ``path`` (a folder or a file) changes; ``None`` when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)


class ScanCache:
    """One scan's view of the cache: what it found kept (``_old``), what this scan used (``_new``)."""

    def __init__(self, file: str | None, old: dict[str, Any]):
        from orchestrator_core.run.file_digests import settled

        self._file = file
        self._old = old
        self._new: dict[str, Any] = {}
        self._settled = settled
        self._started = time.time_ns()

    @classmethod
    def open(cls) -> ScanCache:
        """The cache of this interpreter (empty when off, missing, damaged or not private)."""
        if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
            return cls(None, {})
        root = cache_root()
        if root is None:
            return cls(None, {})
        # One file per interpreter: environments that take turns do not rewrite each other's.
        name = builtin_sha256_hex(f"{sys.executable}\0{sys.prefix}\0{sys.version}".encode("utf-8", "surrogateescape"))
        file = os.path.join(root, "entry-points", name[:32] + ".scan")
        try:
            if not is_private(root / "entry-points"):
                return cls(None, {})
            with open(file, "rb") as handle:
                stored = marshal.loads(handle.read())
        except (OSError, EOFError, ValueError, TypeError):
            return cls(file, {})
        ok = isinstance(stored, tuple) and len(stored) == 2 and stored[0] == _FORMAT and isinstance(stored[1], dict)
        return cls(file, stored[1] if ok else {})

    def _kept(self, key: str, stamp: Stamp | None) -> Any:
        """What was kept under ``key`` for ``stamp``, or ``None``."""
        entry = self._old.get(key)
        if stamp is not None and isinstance(entry, tuple) and len(entry) == 2 and entry[0] == stamp:
            return entry[1]
        return None

    def _keep(self, key: str, stamp: Stamp | None, value: Any) -> None:
        if stamp is not None and self._settled(stamp[0], stamp[1], self._started):
            self._new[key] = (stamp, value)

    def listing(self, folder: str, pick: Callable[[str], bool]) -> list[str] | None:
        """The sorted names in ``folder`` that ``pick`` takes; ``None`` when it cannot be listed.

        A folder holding none is kept only when it is the interpreter's own (the standard
        library's): the working directory on ``sys.path`` would otherwise add an entry, and a
        rewrite of the cache, for every directory orch starts from.
        """
        key = "d:" + (folder if os.path.isabs(folder) else os.path.abspath(folder))
        stamp = _stamp(folder)
        names = self._kept(key, stamp)
        if not isinstance(names, list):
            try:
                names = sorted(name for name in os.listdir(folder) if pick(name))
            except OSError:
                return None
        if names or key.startswith(_INTERPRETER_FOLDERS):
            self._keep(key, stamp, names)
        return names

    def read(self, path: str, parse: Callable[[str], Any]) -> Any:
        """``parse`` of the text of file ``path``, kept with its stamps; ``None`` when it cannot be read."""
        key = "f:" + (path if os.path.isabs(path) else os.path.abspath(path))
        stamp = _stamp(path)
        if stamp is None:
            return None
        found = self._kept(key, stamp)
        if found is None:
            try:
                with open(path, encoding="utf-8") as handle:
                    found = parse(handle.read())
            except (OSError, ValueError):
                return None
        self._keep(key, stamp, found)
        return found

    def save(self) -> None:
        """Write what this scan used, when it differs from what was kept (best effort)."""
        if self._file is None or self._new == self._old:
            return
        file = Path(self._file)
        try:
            make_private(file.parent)
            write_whole(file, marshal.dumps((_FORMAT, self._new)))
        except (OSError, ValueError):
            pass  # no cache: the next start reads the files, as without one
