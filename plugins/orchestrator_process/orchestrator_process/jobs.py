"""What the process pool keeps track of, and how a step ends when its worker does.

A :class:`Job` is one task waiting or running, with the future the runner waits on;
a :class:`WorkerHandle` is one worker process as the parent sees it (its pipe, its
job, when it must be gone). Both are plain records: every decision about them is
made in :mod:`orchestrator_process.pool`, under its lock.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import Future, InvalidStateError
from typing import Any

from orchestrator_core.errors import error_record
from orchestrator_core.model import STATUS_ERROR, StepResult


class Job:
    """One task: its pickled form (made on submit, so a task that cannot travel fails at once)
    and the future the runner waits on; ``started`` is set when a worker gets it."""

    __slots__ = ("step", "payload", "future", "started")

    def __init__(self, step: str, payload: bytes, future: Future):
        self.step = step
        self.payload = payload
        self.future = future
        self.started = 0.0

    def fail(self, reason: str, details: dict[str, Any] | None = None, exit_code: int = 1) -> None:
        duration = (time.perf_counter() - self.started) * 1000 if self.started else 0.0
        error = error_record(self.step, reason, details=details, exit_code=exit_code)
        self.resolve(StepResult(self.step, STATUS_ERROR, error=error, metrics={"duration_ms": round(duration, 3)}))

    def resolve(self, result: StepResult) -> None:
        try:
            self.future.set_result(result)
        except InvalidStateError:
            pass  # cancelled or already resolved: nobody waits for it any more


class WorkerHandle:
    """One worker process as the parent sees it; ``idle`` when it has no job and may get one.

    ``process`` is a ``multiprocessing.Process`` or a :class:`~orchestrator_process.forked.ForkedProcess`,
    ``conn`` the matching ``Connection`` or :class:`~orchestrator_process.forked.MessagePipe`.
    """

    __slots__ = ("process", "conn", "job", "kill_at", "readable", "output")

    def __init__(self, process: Any, conn: Any, output: Any = None):
        self.process = process
        self.conn = conn
        self.output = output  # its output pipe (output.WorkerOutput) while a live bar is shown, else None
        self.job: Job | None = None
        self.kill_at: float | None = None  # asked to stop: SIGKILL its group if it still lives then
        self.readable = True  # False once its pipe is closed (its death is then near)

    @property
    def idle(self) -> bool:
        return self.job is None and self.kill_at is None


def death_reason(exitcode: int | None) -> tuple[str, dict[str, Any], int]:
    """Reason, details and exit code of a step whose worker process ended under it."""
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        details: dict[str, Any] = {"signal": number, "signal_name": name}
        if number == signal.SIGKILL:
            details["hint"] = "killed from outside the run, often by the out-of-memory killer"
        return f"worker process died (signal {number})", details, 128 + number
    return f"worker process died (exit code {exitcode})", {"exit_code": exitcode}, exitcode or 1


def kill_group(pid: int) -> None:
    """SIGKILL the process group a worker leads: the worker and what its step left there."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
