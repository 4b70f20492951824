"""orchestrator-shell-steps: the ``shell`` step type of orch, scripts that follow the JSON-line contract.

The plugin is :mod:`orchestrator_shell.plugin`; :mod:`~orchestrator_shell.step_type` checks
a step and finds its script, :mod:`~orchestrator_shell.handler` runs it and turns its
status line into context writes, :mod:`~orchestrator_shell.contract` reads that line,
:mod:`~orchestrator_shell.running` runs the process and :mod:`~orchestrator_shell.process_group`
stops it with everything it started.
"""

__version__ = "0.2.0"
