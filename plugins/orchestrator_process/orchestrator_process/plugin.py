"""The ``process`` executor: CPU-bound steps on a pool of worker processes (guide §12).

A step goes here when the recipe says ``executor: process``, when its scriptlet
sets ``requires_process = True``, or for every step with ``orch run --executor
process``. The worker receives only the detached task (params and the context keys
the scriptlet declares as ``inputs``), runs it with the same harness as every other
executor and sends back the step's write-set; the runner merges it.

This module is imported whenever ``orch`` starts, so it imports nothing heavy:
the pool (and ``multiprocessing``) is loaded in :meth:`ProcessExecutor.start`.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from typing import TYPE_CHECKING

from orchestrator_core import Executor, ExecutorCapabilities, ExecutorOption, hookimpl
from orchestrator_core import UsageError
from orchestrator_core.plugin.interfaces import DEFAULT_REQUIRES_PROCESS
from orchestrator_core.recipe.values import MAX_WORKERS

if TYPE_CHECKING:
    from orchestrator_core.model import StepResult, StepTask

    from .pool import WorkerPool

WORKERS_OPTION = ExecutorOption(
    flag="--process-workers", dest="process_workers", type=int, env="ORCH_PROCESS_WORKERS",
    help="Worker processes of the process executor (default: CPU count).",
)


class ProcessExecutor(Executor):
    """Runs each step in one of a few persistent worker processes.

    A worker that dies (segfault, ``os._exit``, out of memory) fails only its own
    step, with the guide's error JSON; a cancelled step (timeout, Ctrl-C) has its
    worker stopped, SIGTERM first so the step can clean up, then SIGKILL.
    """

    name = "process"
    capabilities = ExecutorCapabilities(parallel=True, out_of_process=True, can_kill=True)
    options = (WORKERS_OPTION,)
    default_for = frozenset({DEFAULT_REQUIRES_PROCESS})
    _pool: WorkerPool

    def check(self) -> None:
        self.workers()

    def start(self) -> None:
        from . import pool

        # As many workers as can be busy at once start with the pool: no more than the run's
        # steps for it, nor than it keeps in flight (--workers).
        self._pool = pool.WorkerPool(self.workers(), prestart=min(self.planned_steps, self.config.workers))

    def workers(self) -> int:
        """``--process-workers``, else ``ORCH_PROCESS_WORKERS``, else the CPU count."""
        value = self.config.options.get(WORKERS_OPTION.dest)
        if value is None:
            value = os.environ.get(WORKERS_OPTION.env or "") or None
        if value is None:
            return os.cpu_count() or 1
        try:
            count = int(value)
        except ValueError:
            count = 0
        if not 1 <= count <= MAX_WORKERS:
            raise UsageError(f"{WORKERS_OPTION.flag} must be a whole number of at least 1 and at most {MAX_WORKERS}, "
                             f"got {value!r}")
        return count

    def submit(self, task: StepTask) -> Future[StepResult]:
        return self._pool.submit(task)

    def cancel(self, future: Future[StepResult]) -> None:
        self._pool.cancel(future)

    def shutdown(self, *, cancel: bool = False) -> None:
        self._pool.shutdown(cancel=cancel)


@hookimpl
def orch_register_executors() -> list[type]:
    return [ProcessExecutor]
