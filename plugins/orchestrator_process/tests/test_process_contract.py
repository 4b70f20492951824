"""The process executor passes the executor contract (``orchestrator_core.testing.contracts``)."""

from __future__ import annotations

from orchestrator_core.testing.contracts import ExecutorContract
from orchestrator_process.plugin import ProcessExecutor


class TestProcessExecutor(ExecutorContract):
    executor_class = ProcessExecutor
