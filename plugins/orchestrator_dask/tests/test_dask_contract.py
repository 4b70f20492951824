"""The dask executor passes the executor contract (``orchestrator_core.testing.contracts``), on a LocalCluster."""

from __future__ import annotations

from orchestrator_core.testing.contracts import ExecutorContract
from orchestrator_dask.plugin import DaskExecutor


class TestDaskExecutor(ExecutorContract):
    executor_class = DaskExecutor
