"""What went wrong with the state store, said in one line a user can act on.

SQLite reports a full disk, a read-only file, a file that is not a database and a
damaged one each in its own words (``database or disk is full``, ``file is not a
database``...). The commands turn those into two errors: :class:`StateStoreError`
when a command cannot open or read the store (exit status 2, nothing ran), and
:class:`RecordingError` when a run could not record what it did (exit status 1: the
run stops, since a run nobody can resume from must not look like a success). Each
message names the store, the cause, and what to do; a damaged store points to
``orch doctor`` (:mod:`.doctor`, docs/state.md, "A damaged store").
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from orchestrator_core.errors import OrchError



def doctor_hint(path: Path) -> str:
    """What to do about a damaged store at ``path``: the command that checks and recovers it."""
    return (f"`orch doctor --state-dir {path.parent}` says what is wrong, and with --repair moves the file aside "
            "and keeps what is readable (docs/state.md)")


class StateStoreError(OrchError):
    """The state store cannot be opened or read as the command needs: nothing ran (exit status 2).

    ``damaged`` is true when the file itself is the problem (``orch doctor`` helps),
    false when it is where it lives (read-only, full, locked).
    """

    exit_code = 2

    def __init__(self, message: str, *, damaged: bool = False):
        super().__init__(message)
        self.damaged = damaged


class RecordingError(OrchError):
    """A run could not record what it did in the state store, so it stopped (exit status 1)."""

    exit_code = 1


def is_damage(exc: BaseException) -> bool:
    """Whether ``exc`` says the file is not a state store orch can read (as opposed to full, locked...)."""
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return True
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return True
    text = str(exc)
    return text.startswith(("no such table", "no such column")) or "malformed" in text


def cause(exc: BaseException, path: Path | None = None) -> str:
    """A short phrase for what ``exc`` says went wrong with the store at ``path``."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    code = getattr(exc, "errno", None)
    if path is not None and path.is_dir():
        return "it is a directory, not a database file"
    if name.startswith("SQLITE_FULL") or code == errno.ENOSPC:
        return "the disk is full (database or disk is full)"
    if name.startswith("SQLITE_READONLY") or code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"it is read-only ({exc})"
    if name.startswith("SQLITE_CANTOPEN") and path is not None and not _writable(path):
        return "it is read-only (the database or its directory cannot be written)"
    if name.startswith("SQLITE_NOTADB"):
        return "the file is not a SQLite database"
    if name.startswith("SQLITE_CORRUPT") or "malformed" in str(exc):
        return "the database is damaged (database disk image is malformed)"
    if isinstance(exc, json.JSONDecodeError):
        return f"a row holds invalid JSON ({exc})"
    if isinstance(exc, UnicodeDecodeError):
        return "a row holds text that is not UTF-8"
    if str(exc).startswith(("no such table", "no such column")):
        return f"a table of the store is missing ({exc})"
    if name.startswith("SQLITE_CANTOPEN"):
        return f"it cannot be opened ({exc}: is its directory readable and writable?)"
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
        return f"another process holds it locked ({exc})"
    return str(exc) or type(exc).__name__


def _writable(path: Path) -> bool:
    """Whether the database and its directory can be written (SQLite creates its log files beside it)."""
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def store_error(exc: BaseException, path: Path, *, hint: str = "") -> StateStoreError:
    """A :class:`StateStoreError` for ``exc`` on the store at ``path``; damage gets the doctor's hint."""
    damaged = is_damage(exc) or path.is_dir()
    if damaged:
        hint = doctor_hint(path)
    return StateStoreError(f"state store {path}: {cause(exc, path)}{'; ' + hint if hint else ''}", damaged=damaged)


def damaged_store(path: Path, what: str) -> StateStoreError:
    """The error for a store whose file is readable but is not a sound state store: ``what`` is wrong."""
    return StateStoreError(f"state store {path}: {what}; {doctor_hint(path)}", damaged=True)
