"""orchestrator-process: the ``process`` executor of orch, a pool of worker processes.

The plugin is :mod:`orchestrator_process.plugin`; the pool the parent keeps is
:mod:`orchestrator_process.pool` and the loop each worker runs is
:mod:`orchestrator_process.worker`.
"""

__version__ = "0.2.0"
