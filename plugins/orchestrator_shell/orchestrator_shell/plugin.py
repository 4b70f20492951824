"""The orch plugin of orchestrator-shell-steps: registers the ``shell`` step type.

Registered through the entry point ``shell = "orchestrator_shell.plugin"``. This module
is imported whenever ``orch`` starts, so it imports only the step type's class; the
process machinery is imported when a shell step first runs.
"""

from __future__ import annotations

from orchestrator_core import hookimpl

from .step_type import ShellStepType


@hookimpl
def orch_register_step_types() -> list[type]:
    return [ShellStepType]
