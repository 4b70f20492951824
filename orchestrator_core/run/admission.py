"""When a ready parallel step may start, and where: how deep an executor's queue goes, and when
the runner runs a step on its own thread instead (the caller-runs policy of a saturated pool).

``--workers`` steps run at once. An in-process executor that queues ahead (the thread executor:
``queues_ahead``, and it runs at most ``--workers`` steps itself) is handed more, so its workers
never wait for the runner between steps; other executors get a step only while fewer than
``--workers`` are in flight. A scriptlet proves quick by its runs in this run (``ReportQueue``):
until it ran ``CALLER_RUNS_AFTER`` times its steps are queued only ``QUEUE_AHEAD_UNKNOWN`` deep a
worker; once it is known quick, a step of it that would wait in a full pool runs on the runner's
thread: under the GIL it costs less there than through the pool, the workers stay as busy, and
the runner is away for under a millisecond.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator_core.plugin.interfaces import Executor
    from orchestrator_core.recipe.prepare import PreparedStep
    from orchestrator_core.run.reports import ReportQueue

# How many steps per worker are queued in an executor that queues ahead: enough that a worker
# never waits for the runner thread to hand it the next step.
QUEUE_AHEAD_PER_WORKER = 16
# How many while the step's scriptlet has run fewer than CALLER_RUNS_AFTER times in the run.
QUEUE_AHEAD_UNKNOWN = 2
# How many quick runs make a scriptlet known quick; the executor of the steps the runner runs itself.
CALLER_RUNS_AFTER = 8
RUNNER_THREAD_EXECUTOR = "inline"


def queues_ahead(executor: Executor) -> bool:
    """Whether steps are queued in ``executor`` before a worker is free (in-process ones only:
    an out-of-process task carries a snapshot of the context taken when it is submitted)."""
    capabilities = executor.capabilities
    return capabilities.queues_ahead and not capabilities.out_of_process


class Admission:
    """The policy of one run; the engine keeps what is in flight and asks."""

    def __init__(self, workers: int, reports: ReportQueue):
        self.workers = workers
        self.reports = reports

    def room(self, prepared: PreparedStep, queued: bool) -> int:
        """How many attempts may be in flight when ``prepared`` is submitted to its executor
        (``queued``: one that queues ahead)."""
        if not queued:
            return self.workers
        if self.reports.runs(prepared.handler.identity) < CALLER_RUNS_AFTER:
            return self.workers * QUEUE_AHEAD_UNKNOWN
        return self.workers * QUEUE_AHEAD_PER_WORKER

    def runs_here(self, prepared: PreparedStep, queued: bool, timeouts_in_flight: int) -> bool:
        """Whether ``prepared``, a parallel step that would wait in its executor's queue, runs on
        the runner's own thread instead (on ``RUNNER_THREAD_EXECUTOR``, and its metrics say so).

        Only a step of an executor that queues ahead, of a handler known quick
        (``CALLER_RUNS_AFTER`` runs, nearly all under ``QUICK_HANDLER_MS``, as for the group
        commit), without a timeout, while no step in flight (queued or started) has one: the
        runner has no deadline to watch while it runs the step.
        """
        if not queued or prepared.step.timeout or timeouts_in_flight:
            return False
        return self.reports.known_quick(prepared.handler.identity, runs_at_least=CALLER_RUNS_AFTER)
