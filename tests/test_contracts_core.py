"""The core's thread executor and python step type pass their contracts (``orchestrator_core.testing.contracts``)."""

from __future__ import annotations

from orchestrator_core.builtin.executor_thread import ThreadExecutor
from orchestrator_core.builtin.python_step import PythonStepType
from orchestrator_core.testing.contracts import ContractScriptlets, ExecutorContract, StepTypeContract


class TestThreadExecutor(ExecutorContract):
    executor_class = ThreadExecutor


class TestPythonStepType(StepTypeContract):
    step_type_class = PythonStepType
    plugins = (ContractScriptlets(),)
    good_step = "{name: good, uses: contract_write, params: {value: [1, 2]}}"
    good_outputs = {"contract.value_v1": [1, 2]}
    failing_step = "{name: failing, uses: contract_fail}"
    invalid_step = "{name: invalid, uses: no_such_scriptlet}"
