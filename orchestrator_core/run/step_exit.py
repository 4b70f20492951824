"""``os._exit`` called by a step that runs in orch's own process: the step fails, orch goes on.

A library that "exits cleanly" deep inside (``os._exit(0)``) would end ``orch`` itself when
its step runs on the ``inline`` or ``thread`` executor: no ``finally`` block, no ``atexit``
handler, no recording, and the shell (cron, CI, ``&&``) would see the exit status the library
chose, 0 for a run that never finished. In a worker process (``process``, ``dask``) the worker
dies and its step fails; here the step fails the same way.

While a run goes on, ``os._exit`` is replaced by :func:`_guarded_exit`. Called in orch's
process on a thread running a step (its stack holds :func:`execute_task`'s frame), it raises
:class:`StepExited` there, which fails that step like any exception. Anything else goes to the
real ``os._exit``: a forked child (a process worker, ``multiprocessing`` with ``fork``) has
another pid, and a call outside any step is orch's, or a plugin's, to make. Under ``orch run``
the guard stays until orch exits (:func:`guard_process`), so a step abandoned at its timeout
cannot end orch during its last cleanup either; and there a call outside any step (a thread a
step started) with status 0 while the run goes on exits 1 instead. Nothing is done per step:
the stack is only read when ``os._exit`` is called. A module that bound ``os._exit`` to a name
of its own before the run (``from os import _exit``) calls the real one, and a step that
catches ``BaseException`` around the call goes on as if it had not been made.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, NoReturn

from orchestrator_core.run.execution import execute_task

_real_exit = os._exit
_lock = threading.Lock()
_runs = 0  # runs under way (guard_os_exit blocks): the real os._exit is back when none is left
_for_good = False  # under ``orch run``: installed until the process ends (guard_process)
_owner_pid = 0  # orch's process: a forked child exits for real
OUTSIDE_STEP_STATUS = 1  # the exit status instead of 0 for an os._exit(0) outside any step under ``orch run``


class StepExited(BaseException):  # noqa: N818 - named for what happened, like SystemExit
    """A step called ``os._exit(code)`` in orch's own process; raised in the step instead.

    A ``BaseException``, like ``SystemExit``: a step's ``except Exception`` does not swallow it.
    """

    def __init__(self, step: str, code: Any, where: str):
        self.step = step
        self.code = code
        super().__init__(f"os._exit({code!r}) called at {where}: a step run in orch's own process may not "
                         "end it, so the step fails instead")


class guard_os_exit:  # noqa: N801 - used like a function: ``with guard_os_exit():``
    """For the block: ``os._exit`` on a step's thread raises :class:`StepExited` in the step."""

    __slots__ = ()

    def __enter__(self) -> None:
        global _runs
        with _lock:
            _runs += 1
            _install()

    def __exit__(self, *exc: object) -> None:
        global _runs
        with _lock:
            _runs -= 1
            if not _runs and not _for_good and os._exit is _guarded_exit:
                os._exit = _real_exit


def guard_process() -> None:
    """Guard ``os._exit`` until this process ends (``orch run``): see the module's docstring."""
    global _for_good
    with _lock:
        _for_good = True
        _install()


def _install() -> None:
    global _owner_pid
    if os._exit is not _guarded_exit:
        _owner_pid = os.getpid()
        os._exit = _guarded_exit


def _guarded_exit(code: Any) -> NoReturn:
    if os.getpid() == _owner_pid:
        caller = sys._getframe(1)
        step = _running_step(caller)
        if step is not None:
            raise StepExited(step, code, f"{caller.f_code.co_filename}:{caller.f_lineno} in {caller.f_code.co_name}")
        if _for_good and _runs and code == 0:
            try:
                os.write(2, f"orch: error: os._exit(0) called outside any step before the run finished; "
                            f"exit status {OUTSIDE_STEP_STATUS}\n".encode())
            except OSError:
                pass
            code = OUTSIDE_STEP_STATUS
    _real_exit(code)


def _running_step(frame: Any) -> str | None:
    """The name of the step whose :func:`execute_task` frame is on this stack, else None."""
    harness = execute_task.__code__
    while frame is not None:
        if frame.f_code is harness:
            task = frame.f_locals.get("task")
            return str(getattr(task, "step", "?"))
        frame = frame.f_back
    return None
