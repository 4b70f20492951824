"""The ``inline`` executor: runs a step on the runner's own thread.

The cheapest way to run a step. A step with a ``timeout`` runs on a helper thread
instead, so the runner can stop waiting for it when the time is up.
"""

from __future__ import annotations

from concurrent.futures import Future

from orchestrator_core._markers import hookimpl
from orchestrator_core.run.execution import execute_task
from orchestrator_core.run.interrupts import reclaim_signals
from orchestrator_core.plugin.interfaces import DEFAULT_SERIAL, Executor, ExecutorCapabilities
from orchestrator_core.model import StepResult, StepTask

from orchestrator_core.builtin.threads import DaemonPool, finished_future


class InlineExecutor(Executor):
    name = "inline"
    capabilities = ExecutorCapabilities(parallel=False, out_of_process=False, can_kill=False)
    default_for = frozenset({DEFAULT_SERIAL})

    def start(self) -> None:
        self._timed = DaemonPool(1, name="orch-inline")

    def submit(self, task: StepTask) -> Future[StepResult]:
        if task.timeout:
            return self._timed.submit(task)
        result = execute_task(task)
        reclaim_signals(task.step)  # a step run here may have replaced orch's signal handlers
        return finished_future(result)

    def cancel(self, future: Future[StepResult]) -> None:
        self._timed.cancel(future)

    def shutdown(self, *, cancel: bool = False) -> None:
        self._timed.shutdown()


@hookimpl
def orch_register_executors() -> list[type]:
    return [InlineExecutor]
