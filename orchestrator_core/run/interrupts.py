"""Stopping ``orch run`` by signal, and every process it started with it.

The first SIGINT, SIGTERM or SIGHUP (a closed terminal or SSH session) becomes a
``KeyboardInterrupt``: the run loop cancels its steps, each executor stops what it
runs, and the run is recorded as ``interrupted``. Whatever is still running after
that (a program a thread step started, which lives in ``orch``'s own process group
and no executor knows about) is then stopped too: SIGTERM, a grace period, SIGKILL.

A second signal during that shutdown never raises again (a ``KeyboardInterrupt`` in
the middle of cleanup, or in an ``atexit`` handler, prints a traceback and stops the
cleanup half-way): it SIGKILLs every process ``orch`` started, and every process
group they lead, at once, and the shutdown finishes quickly with nothing left to wait for.

A step run on orch's main thread may catch the ``KeyboardInterrupt`` and go on (a bare
``except:``). The runner then stops before it starts another step (:func:`interrupt_dropped`),
and a second signal while that step still runs raises again. A third signal ends ``orch``
at once, by that signal: whatever holds the run up, the user can always stop it; the run is
then recorded as killed, and can be resumed as after ``kill -9``.

A run that ends without a signal but wrote a step off still running (its ``timeout``
passed: a thread step's thread, a Dask task, cannot be killed) stops what is left the
same way once it ends: whatever such a step started would otherwise outlive ``orch``,
holding its stdout open (``orch run R 2>&1 | cat`` would wait for it).

"Every process orch started" is read from ``/proc``: the descendants of ``orch``.
From the first signal on, or from the first step written off, ``orch run`` is a child
subreaper (Linux), so a process whose parent exits meanwhile (a process worker stopped
at the timeout, a Dask worker closed with its cluster) is re-parented to ``orch``
rather than to init and stays a descendant, even if it left its session (``setsid``).
(Not before: over a long run, every orphan would stay a zombie child of ``orch`` until
it exits.) A process orphaned before that moment is init's, out of reach.
"""

from __future__ import annotations

import logging
import os
import signal
import _signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator_core.run.processes import live_processes

logger = logging.getLogger("orchestrator.interrupts")

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
STOP_GRACE_S = 1.0  # between SIGTERM and SIGKILL for what the executors left running
KILL_WAIT_S = 2.0  # at most, for SIGKILLed processes to be gone (on a loaded machine, not at once)
_PR_SET_CHILD_SUBREAPER = 36


class Interrupts:
    """Signal handlers for the duration of a run: the first signal interrupts, any later one kills."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.stopping = False  # the runner has taken the interrupt and is stopping (run_stopping)
        self.count = 0  # signals received
        self.abandoned: list[str] = []  # steps written off still running (timeout): see abandoned()
        self._previous: dict[int, Any] = {}

    def install(self) -> Interrupts:
        global _active
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._first)
        _active = self
        return self

    def reclaim(self, step: str) -> None:
        """Put the run's handlers back where ``step``, run on this thread, replaced them.

        A scriptlet running in orch's own process may call ``signal.signal`` (a library that
        ignores SIGINT, say): left so, Ctrl-C and SIGTERM would do nothing for the rest of the run.
        """
        expected = self._first if self.received is None else self._again
        for signum in SIGNALS:
            if _current_handler(signum) != expected:
                signal.signal(signum, expected)
                logger.warning("step %r replaced orch's %s handler; orch's is back, so the signal still stops "
                               "the run", step, signal.Signals(signum).name)

    def finish(self) -> None:
        """After the run: stop what is left if a signal came, else give the old handlers back
        (and stop what is left if a step was written off still running).

        After a signal the escalating handler stays until ``orch`` exits, so a second
        signal during ``atexit`` cleanup kills instead of printing a traceback.
        """
        global _active
        _active = None
        if self.received is None:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
            if self.abandoned:
                stopped = stop_descendants(STOP_GRACE_S, "the run")
                if stopped:
                    logger.warning("stopped %d process(es) still running when the run ended, after step(s) %s "
                                   "timed out", stopped, ", ".join(map(repr, dict.fromkeys(self.abandoned))))
            return
        stop_descendants(STOP_GRACE_S)

    def _first(self, signum: int, frame: Any) -> None:
        self.received = signum
        self.count = 1
        for other in SIGNALS:
            signal.signal(other, self._again)
        become_subreaper()
        _interrupt()

    def _again(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count >= 3:
            _end_by(signum)
        if _held.pending:
            _interrupt()  # the first is still held back (a step being recorded and reported): now, at once
        killed = signal_descendants(signal.SIGKILL)
        try:
            os.write(2, f"orch: {signal.Signals(signum).name} again: killed {killed} process(es) "
                        "the run had started\n".encode())
        except OSError:
            pass
        if not self.stopping:  # a step on this thread caught the first and went on: this one stops it
            self.stopping = True
            raise KeyboardInterrupt


_active: Interrupts | None = None  # the handlers of the run under way, while installed

# The handler as set, without ``signal.getsignal``'s conversion to an enum member (which tries,
# and fails, to make one of every handler: 3 us a call, and this is asked after every step).
_current_handler = getattr(_signal, "getsignal", signal.getsignal)


def abandoned(step: str) -> None:
    """The runner wrote ``step`` off still running (its timeout passed, its executor cannot be
    sure to stop it): under ``orch run``, whatever it started is stopped when the run ends
    (:meth:`Interrupts.finish`). From now on ``orch`` is a subreaper, so what the step started
    stays a descendant when the executor stops the step's worker. Nothing outside ``orch run``.
    """
    if _active is not None:
        if not _active.abandoned:
            become_subreaper()
        _active.abandoned.append(step)


def _end_by(signum: int) -> None:
    """End ``orch`` at once, by ``signum`` (its default action), as the user insists."""
    name = signal.Signals(signum).name
    try:
        os.write(2, f"orch: {name} a third time: ending now; the run is recorded as killed "
                    "(orch runs show, --resume-from)\n".encode())
    except OSError:
        pass
    signal_descendants(signal.SIGKILL)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def interrupt_dropped() -> None:
    """Raise the interrupt a step dropped: a signal came, yet the runner goes on to start steps.

    The first signal becomes a ``KeyboardInterrupt`` where the main thread is, which may be in
    a step run on it (``inline``, or a quick step the runner runs itself); a step that catches
    it (a bare ``except:``, ``except BaseException``) and goes on would otherwise let the run
    start the next steps and end ``ok``, exit status 0, as if no one had asked it to stop. The
    runner asks before it starts steps; the run then stops as for any interrupt.
    """
    if _active is not None and _active.received is not None and not _held.depth:
        run_stopping()
        logger.warning("a step caught the interrupt (%s) and went on; the run stops now",
                       signal.Signals(_active.received).name)
        raise KeyboardInterrupt


def run_stopping() -> None:
    """The runner has taken the interrupt and is stopping: a second signal from now on kills what
    the run started (:meth:`Interrupts._again`) instead of raising in the middle of the cleanup."""
    if _active is not None:
        _active.stopping = True


def reclaim_signals(step: str) -> None:
    """After a step ran on the main thread: the run's signal handlers, put back if it replaced them
    (:meth:`Interrupts.reclaim`); nothing when no run installed them."""
    if _active is not None and threading.current_thread() is threading.main_thread():
        _active.reclaim(step)


class _Held(threading.local):
    """Per thread: how many :class:`deferred` blocks run, and whether a signal came meanwhile (signal
    handlers run on the main thread, so only its blocks hold a signal back)."""

    depth = 0
    pending = False


_held = _Held()


def _interrupt() -> None:
    """Raise ``KeyboardInterrupt`` now, or once the :class:`deferred` blocks running end."""
    if _held.depth and not _held.pending:
        _held.pending = True
        return
    _held.pending = False
    raise KeyboardInterrupt


class deferred:  # noqa: N801 - used like a function: ``with deferred():``
    """A block the first signal does not cut short: its ``KeyboardInterrupt`` comes when the block ends.

    Recording a group of finished steps and printing their lines is such a block (reports.py):
    an interrupt in the middle of a line would leave a step recorded and never reported, or
    reported twice. It takes well under a second; a second signal meanwhile interrupts at once.
    Only the signals ``orch run`` handles (:class:`Interrupts`) are held back.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        _held.depth += 1

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        _held.depth -= 1
        if not _held.depth and _held.pending and kind is None:
            _interrupt()


def become_subreaper() -> None:
    """Make orphaned descendants children of this process, not of init (Linux only; else nothing)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl: orphans go to init
        pass


def descendants(root: int | None = None) -> list[tuple[int, int]]:
    """``(pid, process group)`` of every live descendant of ``root`` (default: this process, less
    the helpers that must outlive the run, :func:`spared`).

    Read from ``/proc``; where there is none, an empty list.
    """
    skipped = spared() if root is None else set()
    root = os.getpid() if root is None else root
    children: dict[int, list[tuple[int, int]]] = {}
    for process in live_processes():
        children.setdefault(process.ppid, []).append((process.pid, process.pgid))
    found: list[tuple[int, int]] = []
    stack = [root]
    while stack:
        for pid, pgid in children.get(stack.pop(), ()):
            if pid not in skipped:
                found.append((pid, pgid))
                stack.append(pid)
    return found


def spared() -> set[int]:
    """This process's own helpers that end with it and must not be stopped before: ``multiprocessing``'s
    resource tracker (Dask, the process executor's fork server use it).

    Killed, it is relaunched by the next semaphore ``orch`` releases while shutting down, and the new
    one prints a ``KeyError`` traceback for every name it never registered; left alone, it sees
    ``orch`` exit, removes what leaked, and ends.
    """
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    pid = getattr(getattr(tracker, "_resource_tracker", None), "_pid", None)
    return {pid} if isinstance(pid, int) else set()


def signal_descendants(signum: int) -> int:
    """Send ``signum`` to every descendant and to every other process group one of them leads.

    Returns how many descendants there were. ``orch``'s own group is never signalled as
    a group: it holds the shell ``orch`` was started from.
    """
    own_group = os.getpgrp()
    found = descendants()
    groups = {pgid for pid, pgid in found if pgid == pid and pgid != own_group}
    for pgid in groups:
        try:
            os.killpg(pgid, signum)
        except (ProcessLookupError, PermissionError):
            pass
    for pid, _ in found:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
    return len(found)


def stop_descendants(grace: float, run: str = "the interrupted run") -> int:
    """SIGTERM every descendant, up to ``grace`` seconds for them to end, then SIGKILL the rest.

    Returns how many there were; those still there after ``grace`` are named in a warning
    (``run`` says which run had left them).
    """
    signalled = signal_descendants(signal.SIGTERM)
    if not signalled:
        return 0
    end = time.monotonic() + grace
    while time.monotonic() < end and any(not _ignores_sigterm(pid) for pid, _ in descendants()):
        time.sleep(0.02)
    overdue = [pid for pid, _ in descendants() if not _ignores_sigterm(pid)]
    if signal_descendants(signal.SIGKILL):
        end = time.monotonic() + KILL_WAIT_S  # gone, not merely signalled, when orch exits
        while descendants() and time.monotonic() < end:
            time.sleep(0.01)
    if overdue:
        logger.warning("killed %d process(es) %s had left running: %s", len(overdue), run,
                       " ".join(map(str, overdue)))
    return signalled


def _ignores_sigterm(pid: int) -> bool:
    """Whether ``pid`` ignores SIGTERM (``multiprocessing``'s resource tracker does): no use waiting for it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except (OSError, ValueError, IndexError):
        pass
    return False
