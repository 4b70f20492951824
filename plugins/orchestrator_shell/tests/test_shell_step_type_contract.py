"""The shell step type passes the step type contract (``orchestrator_core.testing.contracts``)."""

from __future__ import annotations

from orchestrator_core.testing.contracts import StepTypeContract
from orchestrator_shell import plugin
from orchestrator_shell.step_type import ShellStepType


class TestShellStepType(StepTypeContract):
    step_type_class = ShellStepType
    plugins = (plugin,)
    files = {
        "good.sh": """
            #!/bin/sh
            echo '{"status": "ok", "outputs": ["contract.value_v1"], "ctx": {"contract.value_v1": [1, 2]}}'
        """,
        "failing.sh": """
            #!/bin/sh
            echo "cannot go on" >&2
            exit 3
        """,
    }
    good_step = "{name: good, type: shell, script: good.sh, outputs: [contract.value_v1]}"
    good_outputs = {"contract.value_v1": [1, 2]}
    failing_step = "{name: failing, type: shell, script: failing.sh}"
    invalid_step = "{name: invalid, type: shell, script: missing.sh}"
