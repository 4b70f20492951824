"""The ``dask`` executor: steps on a Dask distributed cluster (DESIGN §9).

``orch run RECIPE --executor dask --scheduler tcp://HOST:8786`` sends every ready
step to that cluster; without ``--scheduler`` (or ``ORCH_DASK_SCHEDULER``) the run
starts a LocalCluster of ``--workers`` processes and closes it at the end.

Dask only executes steps that are ready: dependencies, retries, timeouts and the
merging of write-sets stay the runner's job. Each step is submitted as
``execute_task(task)``, the same harness every executor runs, with the detached task
(params and a snapshot of the context keys the step may read), so a step gives the
same result here as inline.

This module is imported whenever ``orch`` starts: Dask is imported in
:meth:`DaskExecutor.start`, never here.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from typing import TYPE_CHECKING

from orchestrator_core import Executor, ExecutorCapabilities, ExecutorOption, hookimpl

if TYPE_CHECKING:
    from orchestrator_core.model import StepResult, StepTask

SCHEDULER_OPTION = ExecutorOption(
    flag="--scheduler", dest="dask_scheduler", env="ORCH_DASK_SCHEDULER",
    help="Dask scheduler to run steps on, tcp://HOST:PORT (default: a LocalCluster for the run).",
)


class DaskExecutor(Executor):
    """Submits each step to a Dask cluster and hands the runner a plain future of its result.

    A cancelled step (timeout, Ctrl-C) is cancelled on the cluster, but a task already
    running on a worker thread runs on, so ``can_kill`` is false; closing the run's
    own LocalCluster does stop its worker processes.
    """

    name = "dask"
    capabilities = ExecutorCapabilities(parallel=True, out_of_process=True, can_kill=False)
    options = (SCHEDULER_OPTION,)

    def start(self) -> None:
        from . import output
        from .cluster import connect
        from .futures import Collector

        scheduler = self.scheduler()
        # The run's own workers print above the live bar, through orch (output.py).
        self._outputs = output.WorkerOutputs.for_run() if scheduler is None and output.wanted() else None
        try:
            # A LocalCluster's workers are processes: no more of them than CPUs, whatever --workers says.
            self._client, self._cluster = connect(scheduler, min(self.config.workers, os.cpu_count() or 1),
                                                  self._outputs.worker_options() if self._outputs else None)
        except BaseException:
            if self._outputs is not None:
                self._outputs.close()
            raise
        self._collector = Collector(self._outputs)

    def scheduler(self) -> str | None:
        """``--scheduler``, else ``ORCH_DASK_SCHEDULER``, else none (a LocalCluster)."""
        return self.config.options.get(SCHEDULER_OPTION.dest) or os.environ.get(SCHEDULER_OPTION.env or "") or None

    def submit(self, task: StepTask) -> Future[StepResult]:
        from orchestrator_core.run.execution import execute_task

        key = f"orch-{task.run_id}-{task.step}-{task.attempt}"
        return self._collector.track(self._client.submit(execute_task, task, pure=False, key=key), task.step)

    def cancel(self, future: Future[StepResult]) -> None:
        self._collector.cancel(future)

    def shutdown(self, *, cancel: bool = False) -> None:
        from .cluster import close

        try:
            self._collector.close(self._client)
        finally:
            try:
                close(self._client, self._cluster)
            finally:
                if self._outputs is not None:
                    self._outputs.close()  # the workers are gone: the rest of their lines, then the socket


@hookimpl
def orch_register_executors() -> list[type]:
    return [DaskExecutor]
