"""Is a recorded run still running? A lock its process holds, not a probe of its process id.

A process id says little about a run: in a container ``orch`` is often PID 1 in its
own namespace, so the id another namespace probes is someone else's (or nobody's),
and ids are reused, so a long-dead run can look alive. So each run holds an
exclusive ``flock`` on ``locks/RUN.lock`` in the state directory from before it is
recorded until its end is. The kernel drops the lock when the process dies, however
it dies (``kill -9`` included), and ``flock`` works across PID namespaces on one
machine. A run recorded ``running`` is alive exactly while someone holds its lock.

The file descriptor is close-on-exec, so a child a step started (a shell script, a
process-pool worker, which start through ``exec``) does not inherit the lock and keep
a dead run looking alive. Runs recorded by an ``orch`` that took no lock have no lock
file; for those the process id is all there is (:func:`pid_alive`).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

DIRECTORY = "locks"


def pid_alive(pid: int | None) -> bool:
    """Whether a process ``pid`` exists on this machine (unknown counts as alive)."""
    if not pid:
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_path(state_dir: str | Path, run_id: str) -> Path:
    return Path(state_dir) / DIRECTORY / f"{run_id}.lock"


class RunLock:
    """The lock a running run holds on its lock file; :meth:`release` when its end is recorded."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state_dir: str | Path, run_id: str) -> RunLock:
        """Create and lock the run's lock file (``OSError`` when the state directory is not writable)."""
        path = lock_path(state_dir, run_id)
        return cls(path, lock_file(path, f"{os.getpid()}\n"))

    def release(self) -> None:
        """Remove the file, then let the lock go (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # a store someone made read-only: the free lock says the same
        os.close(fd)


def held(path: Path) -> bool | None:
    """Whether some process holds a lock on the file ``path`` (``None``: there is no such file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return True  # cannot look: do not call a process dead on a guess
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True  # BlockingIOError: another open file holds it exclusively
    finally:
        os.close(fd)
    return False


def lock_file(path: Path, text: str) -> int:
    """Create ``path``, lock it exclusively and write ``text`` in it; the open descriptor (close-on-exec)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
        os.write(fd, text.encode())
    except BaseException:
        os.close(fd)
        raise
    return fd


def run_alive(state_dir: str | Path | None, run_id: str, pid: int | None) -> bool:
    """Whether the process of run ``run_id`` still runs: its lock is held (else, without a lock file, its pid)."""
    if state_dir is None:
        return pid_alive(pid)
    found = held(lock_path(state_dir, run_id))
    return pid_alive(pid) if found is None else found  # no file: recorded by an orch that took no lock
