"""Stopping a script together with every process it started.

A script runs as the leader of a session of its own (``start_new_session=True``), so
its process group holds the script and whatever it started, and a Ctrl-C at the
terminal reaches only ``orch``, which then stops the group itself. Stopping means
SIGTERM to the whole group, a grace period, then SIGKILL to whatever is left.

Groups still running when the interpreter exits (a step abandoned on a daemon thread
after Ctrl-C) are stopped by an ``atexit`` handler, so no script outlives ``orch``
unless ``orch`` itself is killed with SIGKILL.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
import time
from typing import Any

from orchestrator_core.run.processes import has_process_table, live_processes

# Seconds between SIGTERM and SIGKILL.
KILL_GRACE = 1.0
# At most this long for SIGKILLed processes to be gone (it cannot be ignored: they go as soon
# as the kernel gets to them, which on a loaded machine is not at once).
KILL_WAIT = 10.0

_live: dict[int, subprocess.Popen] = {}
_lock = threading.Lock()
_atexit_registered = False


class ScriptProcess:
    """A started script: reaps it with its resource usage, and stops its process group."""

    def __init__(self, popen: subprocess.Popen):
        self.popen = popen
        self.pgid = popen.pid  # the leader of a new session leads its own group
        self.usage: os.struct_rusage | None = None

    @classmethod
    def start(cls, argv: list[str], **popen_options: Any) -> ScriptProcess:
        """Start ``argv`` in a session of its own, tracked from the moment it exists.

        The start and the tracking happen under the lock :func:`stop_all` takes, so an
        ``orch`` exiting at that moment (Ctrl-C on another thread) waits for the script
        to be tracked, and stops it, instead of leaving it running untracked.
        """
        _register_atexit()
        with _lock:
            popen = subprocess.Popen(argv, start_new_session=True, **popen_options)
            _live[popen.pid] = popen
        return cls(popen)

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def poll(self, *, block: bool = False) -> int | None:
        """Reap the script if it ended (waiting when ``block``); its exit code, else ``None``.

        ``os.wait4`` rather than ``Popen.poll`` gives the script's CPU time and peak
        memory (its own and its reaped children's).
        """
        if self.popen.returncode is not None:
            return self.popen.returncode
        try:
            pid, status, usage = os.wait4(self.popen.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: the status is lost
            self.popen.returncode = -signal.SIGKILL
            return self.popen.returncode
        if pid == 0:
            return None
        self.usage = usage
        self.popen.returncode = os.waitstatus_to_exitcode(status)
        return self.popen.returncode

    def group_alive(self) -> bool:
        """Whether any process of the script's group still runs (zombies do not count)."""
        return bool(group_members(self.pgid)) or (self.poll() is None)

    def left_behind(self) -> list[int]:
        """Live processes of the group once the script has exited (cheap when there are none)."""
        if not _signal_group(self.pgid, 0):
            return []
        return group_members(self.pgid)

    def stop(self, grace: float = KILL_GRACE) -> None:
        """SIGTERM to the group, up to ``grace`` seconds for it to end, then SIGKILL; reaps the script.

        Returns once no process of the group is left, so whoever stops a script (a
        timeout, Ctrl-C) can count on it being gone, not merely signalled.
        """
        if _signal_group(self.pgid, signal.SIGTERM):
            end = time.monotonic() + grace
            while time.monotonic() < end and self.group_alive():
                time.sleep(0.02)
            if _signal_group(self.pgid, signal.SIGKILL):
                _wait_gone([self.pgid])
        self.poll(block=True)
        self.forget()

    def forget(self) -> None:
        """Stop tracking the group (it ended, or was stopped)."""
        with _lock:
            _live.pop(self.pgid, None)


def group_members(pgid: int) -> list[int]:
    """Live processes (not zombies) of process group ``pgid``.

    Read from ``/proc`` where there is one: a signal-0 probe counts zombies too, and an
    init that does not reap them keeps a group "alive" for ever. Elsewhere the probe is
    all there is.
    """
    if not has_process_table():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    return [process.pid for process in live_processes() if process.pgid == pgid]


def _wait_gone(pgids: list[int], limit: float = KILL_WAIT) -> None:
    """Wait (up to ``limit`` seconds) until no process of the groups ``pgids`` is left."""
    end = time.monotonic() + limit
    while any(group_members(pgid) for pgid in pgids) and time.monotonic() < end:
        time.sleep(0.01)


def _signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to the group; False when it has no process left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # the id now belongs to a stranger's group: ours is gone
        return False
    return True


def _register_atexit() -> None:
    global _atexit_registered
    with _lock:
        if not _atexit_registered:
            atexit.register(stop_all)
            _atexit_registered = True


def stop_all() -> None:
    """Stop every group still tracked (at interpreter exit): SIGTERM, a short grace, SIGKILL."""
    with _lock:
        groups = dict(_live)
        _live.clear()
    if not groups:
        return
    for pgid in groups:
        _signal_group(pgid, signal.SIGTERM)
    end = time.monotonic() + KILL_GRACE
    while time.monotonic() < end and any(group_members(pgid) for pgid in groups):
        time.sleep(0.02)
    for pgid, popen in groups.items():
        _signal_group(pgid, signal.SIGKILL)
        try:
            popen.wait(timeout=KILL_GRACE)
        except (subprocess.TimeoutExpired, ChildProcessError):
            pass
    _wait_gone(list(groups))
