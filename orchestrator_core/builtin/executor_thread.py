"""The ``thread`` executor: parallelizable steps side by side on daemon threads.

Suits steps that wait on I/O or release the GIL; CPU-bound Python belongs on the
``process`` executor. The engine queues ready steps here ahead of the free threads
(``queues_ahead``): a thread that finishes a step starts the next one without waiting
for the runner thread. A step that overruns its timeout is asked to stop
(``ctx.cancelled``) and abandoned; its thread cannot be killed. While ``--workers`` steps are
in flight, the runner runs ready steps of scriptlets it knows to be quick on its own thread
instead of queuing them here (``run/admission.py``).
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Callable

from orchestrator_core._markers import hookimpl
from orchestrator_core.plugin.interfaces import DEFAULT_PARALLEL, Executor, ExecutorCapabilities
from orchestrator_core.model import StepResult, StepTask

from orchestrator_core.builtin.threads import DaemonPool


class ThreadExecutor(Executor):
    name = "thread"
    capabilities = ExecutorCapabilities(parallel=True, out_of_process=False, can_kill=False, queues_ahead=True)
    default_for = frozenset({DEFAULT_PARALLEL})

    def start(self) -> None:
        self._pool = DaemonPool(self.config.workers, name="orch-thread")

    def submit(self, task: StepTask) -> Future[StepResult]:
        return self._pool.submit(task)

    def submit_queued(self, task: StepTask, on_start: Callable[[Future[StepResult]], None]) -> Future[StepResult]:
        return self._pool.submit(task, on_start=on_start)

    def cancel(self, future: Future[StepResult]) -> None:
        self._pool.cancel(future)

    def shutdown(self, *, cancel: bool = False) -> None:
        self._pool.shutdown()


@hookimpl
def orch_register_executors() -> list[type]:
    return [ThreadExecutor]
