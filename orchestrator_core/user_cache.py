"""The per-user cache folder: where it is, that only its user can write it, and whole-file writes.

What orch keeps there (read recipes, what the entry-point scan found) is used again without
being checked against its source's content, only against its key or stamps: so a folder
another user could write, or swap for another, would let them decide what orch runs. Such
a folder is neither read nor written, and every file is written to a temporary name and
renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import os
import stat
from contextlib import suppress
from pathlib import Path

CACHE_DIR_ENV = "ORCH_CACHE_DIR"


def cache_root() -> Path | None:
    """``$ORCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/orch``, else ``~/.cache/orch``; ``None`` when
    there is no home folder to keep a cache in."""
    base = os.environ.get(CACHE_DIR_ENV)
    if base:
        return Path(os.path.abspath(base))
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec: a relative XDG_CACHE_HOME is invalid and ignored.
    base = os.path.join(xdg, "orch") if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache", "orch")
    return Path(base) if os.path.isabs(base) else None


def is_private(folder: Path) -> bool:
    """Whether ``folder`` is a folder of this user that nobody else may write or swap for another:
    its parent is this user's or root's, and others may not write it (or only as in ``/tmp``, where
    the sticky bit keeps them from renaming what is not theirs)."""
    st = os.stat(folder)
    if not (stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022):
        return False
    parent = os.stat(folder.parent)
    return parent.st_uid in (os.geteuid(), 0) and (not parent.st_mode & 0o022 or bool(parent.st_mode & stat.S_ISVTX))


def make_private(folder: Path) -> None:
    """Create ``folder`` (and its parent) for this user only; refuse one others may write."""
    for made in (folder.parent, folder):
        with suppress(FileExistsError):
            os.makedirs(made, mode=0o700)
    if not is_private(folder):
        raise PermissionError(f"{folder} is not a private folder of this user")


def write_whole(path: Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` under a temporary name, then rename it into place (``OSError``)."""
    temporary = f"{path}.{os.getpid()}-{id(blob)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(blob)
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
