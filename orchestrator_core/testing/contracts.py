"""Contract tests: what every executor, step type and cache must do, as test classes to subclass.

A plugin's test module subclasses a contract and says what to test; pytest then
collects the contract's tests for it (snakemake's executor plugin interface is the
model). The bundled executors, step types and cache pass them, and so can a third
party's::

    from orchestrator_core.testing.contracts import ExecutorContract
    from my_plugin import MyExecutor

    class TestMyExecutor(ExecutorContract):
        executor_class = MyExecutor

The scriptlets the contracts run live in this module, so a worker in another
process or on a cluster imports them by reference like any scriptlet.
"""

from __future__ import annotations

import itertools
import pickle
import textwrap
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, ClassVar, Iterator

import pytest

from orchestrator_core._markers import hookimpl
from orchestrator_core.config import Config
from orchestrator_core.errors import RecipeError, ScriptletError
from orchestrator_core.run.execution import execute_task
from orchestrator_core.plugin.interfaces import DEFAULT_ROLES, Executor, ExecutorCapabilities, ExecutorOption, StepType
from orchestrator_core.model import STATUS_ERROR, STATUS_OK, CachedResult, StepResult, StepTask, Write
from orchestrator_core.scriptlet.base import BaseScriptlet
from orchestrator_core.scriptlet.handler import PythonHandler

__all__ = ["CacheContract", "ContractScriptlets", "ExecutorContract", "StepTypeContract"]

ERROR_FIELDS = {"status", "step", "reason", "details", "exit_code", "ts"}
_TASK_NUMBERS = itertools.count(1)


# -- the scriptlets contracts run --------------------------------------------------------------
class ContractWrite(BaseScriptlet):
    """Writes ``params["value"]`` to ``contract.value_v1``."""

    name = "contract_write"
    outputs = ("contract.value_v1",)
    inputs = ()
    parallelizable = True

    def run(self, ctx: Any, params: dict[str, Any]) -> None:
        ctx.set("contract.value_v1", params["value"])


class ContractDouble(BaseScriptlet):
    """Reads ``contract.input_v1`` (its one declared input) and writes it doubled."""

    name = "contract_double"
    outputs = ("contract.doubled_v1",)
    inputs = ("contract.input_v1",)
    parallelizable = True

    def run(self, ctx: Any, params: dict[str, Any]) -> None:
        ctx.set("contract.doubled_v1", 2 * ctx.get("contract.input_v1"))


class ContractFail(BaseScriptlet):
    """Fails with the guide's error: a reason, details and an exit code."""

    name = "contract_fail"
    parallelizable = True

    def run(self, ctx: Any, params: dict[str, Any]) -> None:
        raise ScriptletError("the contract asks for a failure", details={"asked": True}, exit_code=3)


class ContractNap(BaseScriptlet):
    """Sleeps up to ``params["seconds"]``, stopping early once cancelled."""

    name = "contract_nap"
    parallelizable = True

    def run(self, ctx: Any, params: dict[str, Any]) -> None:
        deadline = time.monotonic() + params["seconds"]
        while time.monotonic() < deadline and not getattr(ctx, "cancelled", False):
            time.sleep(0.02)


class ContractScriptlets:
    """A plugin registering the contract scriptlets (for a step type's contract on ``uses:``)."""

    @hookimpl
    def orch_register_scriptlets(self) -> list[type]:
        return [ContractWrite, ContractDouble, ContractFail, ContractNap]


# -- executors -----------------------------------------------------------------------------------
class ExecutorContract:
    """What every executor does. Set ``executor_class``; override :meth:`make_config` for options.

    One executor is started for the whole class (a pool or a cluster is started once)
    and shut down, with ``cancel=True``, at its end.
    """

    executor_class: ClassVar[type[Executor]]
    result_timeout: ClassVar[float] = 60.0

    @classmethod
    def make_config(cls, workdir: Path) -> Config:
        """The configuration of the executor under test (a classmethod: one executor serves the class)."""
        return Config(workdir=workdir, workers=2, progress=False)

    @pytest.fixture(scope="class")
    @classmethod
    def contract_executor(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Executor]:
        executor = cls.executor_class(cls.make_config(tmp_path_factory.mktemp("executor-contract")))
        executor.check()
        executor.start()
        try:
            yield executor
        finally:
            executor.shutdown(cancel=True)

    def task(self, executor: Executor, scriptlet: type, params: dict[str, Any] | None = None,
             context: dict[str, Any] | None = None, name: str | None = None) -> StepTask:
        """The task the engine would hand ``executor`` (detached for an out-of-process one).

        Each task of the class gets its own step name (a run never submits one step's
        attempt twice; a cluster may key its work on run, step and attempt).
        """
        config = executor.config
        name = name or f"{scriptlet.name}-{next(_TASK_NUMBERS)}"
        task = StepTask(name, "contract-run", PythonHandler(scriptlet), dict(params or {}), dict(context or {}),
                        str(config.workdir), str(config.data_dir))
        return task.detached() if executor.capabilities.out_of_process else task

    def run_task(self, executor: Executor, scriptlet: type, **task: Any) -> StepResult:
        return executor.submit(self.task(executor, scriptlet, **task)).result(timeout=self.result_timeout)

    def test_declares_name_capabilities_options_and_roles(self) -> None:
        cls = self.executor_class
        assert isinstance(cls.name, str) and cls.name
        assert isinstance(cls.capabilities, ExecutorCapabilities)
        assert all(isinstance(option, ExecutorOption) and option.flag.startswith("--") for option in cls.options)
        assert set(cls.default_for) <= set(DEFAULT_ROLES)

    def test_runs_a_step_and_returns_its_writes(self, contract_executor: Executor) -> None:
        result = self.run_task(contract_executor, ContractWrite, params={"value": {"n": [1, 2.5, "é"]}},
                               name="writes")
        assert (result.step, result.status, result.error) == ("writes", STATUS_OK, None)
        assert [(w.key, w.value) for w in result.delta] == [("contract.value_v1", {"n": [1, 2.5, "é"]})]
        assert result.metrics["duration_ms"] >= 0

    def test_a_step_reads_its_declared_inputs(self, contract_executor: Executor) -> None:
        result = self.run_task(contract_executor, ContractDouble, context={"contract.input_v1": 21, "other": 1})
        assert [(w.key, w.value) for w in result.delta] == [("contract.doubled_v1", 42)]

    def test_a_failing_step_is_an_error_result_with_the_guides_fields(self, contract_executor: Executor) -> None:
        result = self.run_task(contract_executor, ContractFail)
        assert result.status == STATUS_ERROR and not result.delta
        assert result.error is not None and ERROR_FIELDS <= set(result.error)
        assert (result.error["reason"], result.error["exit_code"], result.error["details"]) == (
            "the contract asks for a failure", 3, {"asked": True})

    def test_many_steps_at_once_each_get_their_own_result(self, contract_executor: Executor) -> None:
        futures = {value: contract_executor.submit(self.task(contract_executor, ContractWrite, {"value": value},
                                                             name=f"many-{value}"))
                   for value in range(8)}
        for value, future in futures.items():
            result = future.result(timeout=self.result_timeout)
            assert (result.step, result.delta[0].value) == (f"many-{value}", value)

    def test_a_step_queued_ahead_says_when_it_starts(self, contract_executor: Executor) -> None:
        """``queues_ahead``: ``on_start`` comes on the worker before the step runs, and a step
        cancelled there never runs. Without the capability there is no ``submit_queued``."""
        tasks = [self.task(contract_executor, ContractWrite, {"value": value}) for value in (1, 2)]
        if not contract_executor.capabilities.queues_ahead:
            with pytest.raises(NotImplementedError):
                contract_executor.submit_queued(tasks[0], lambda future: None)
            return
        submitted = threading.Event()
        futures: list[Future] = []
        started: list[Future] = []

        def on_start(future: Future) -> None:
            submitted.wait(self.result_timeout)
            assert not future.running() and not future.done()
            started.append(future)
            if future is futures[0]:
                future.cancel()  # as the engine cancels a queued step when the run stops

        futures.extend(contract_executor.submit_queued(task, on_start) for task in tasks)
        submitted.set()
        assert futures[1].result(timeout=self.result_timeout).delta[0].value == 2
        deadline = time.monotonic() + self.result_timeout
        while len(started) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(map(id, started)) == sorted(map(id, futures)) and futures[0].cancelled()
        contract_executor.cancel(futures[0])  # its bookkeeping, as the engine does after cancelling

    def test_a_cancelled_step_leaves_the_executor_usable(self, contract_executor: Executor) -> None:
        napping = contract_executor.submit(self.task(contract_executor, ContractNap, {"seconds": 1}))
        contract_executor.cancel(napping)
        after = self.run_task(contract_executor, ContractWrite, params={"value": "after"})
        assert after.ok and after.delta[0].value == "after"


# -- step types ----------------------------------------------------------------------------------
class StepTypeContract:
    """What every step type does, through a real recipe read and prepared by a session.

    Set ``step_type_class``, ``plugins`` (what registers it and anything its steps
    need; the built-ins are always there), and three steps as flow-style YAML
    mappings: ``good_step`` writes ``good_outputs``, ``failing_step`` validates but
    fails when run, ``invalid_step`` is refused before anything runs.
    ``files`` are written next to the recipe first (scripts, data).
    """

    step_type_class: ClassVar[type[StepType]]
    plugins: ClassVar[tuple[Any, ...]] = ()
    files: ClassVar[dict[str, str]] = {}
    good_step: ClassVar[str]
    good_outputs: ClassVar[dict[str, Any]]
    failing_step: ClassVar[str]
    invalid_step: ClassVar[str]

    def prepare(self, workdir: Path, step: str) -> tuple[Any, Any]:
        """(session, prepared step) for a recipe of the one ``step`` in ``workdir``."""
        from orchestrator_core.plugin.manager import create_plugin_manager
        from orchestrator_core.run.session import Session

        for name, text in self.files.items():
            path = workdir / name
            path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
            path.chmod(0o755)
        recipe = workdir / "contract.yaml"
        recipe.write_text(f"name: contract\nsteps:\n  - {step}\n", encoding="utf-8")
        pm = create_plugin_manager(load_entrypoints=False, plugins=self.plugins)
        session = Session(Config(workdir=workdir, progress=False), pm=pm)
        loaded = session.load(recipe)
        prepared = session.validate(loaded)
        return session, prepared[loaded.steps[0].name]

    def execute(self, workdir: Path, prepared: Any) -> StepResult:
        step = prepared.step
        task = StepTask(step.name, "contract-run", prepared.handler, dict(step.params), {}, str(workdir),
                        str(workdir / "Data"), 1, step.timeout)
        return execute_task(task)

    def test_declares_its_name_and_fields(self) -> None:
        cls = self.step_type_class
        assert isinstance(cls.name, str) and cls.name
        assert all(isinstance(key, str) for key in cls.fields)

    def test_prepares_a_picklable_handler_that_says_what_it_runs(self, tmp_path: Path) -> None:
        _, prepared = self.prepare(tmp_path, self.good_step)
        handler = prepared.handler
        assert isinstance(handler.identity, str) and handler.identity
        assert isinstance(handler.who, str) and handler.who
        assert isinstance(handler.parallelizable, bool) and isinstance(handler.requires_process, bool)
        assert pickle.loads(pickle.dumps(handler)).identity == handler.identity  # it can go to any executor

    def test_a_good_step_writes_its_outputs(self, tmp_path: Path) -> None:
        _, prepared = self.prepare(tmp_path, self.good_step)
        result = self.execute(tmp_path, prepared)
        assert result.ok, result.error
        assert {w.key: w.value for w in result.delta} == self.good_outputs
        assert set(self.good_outputs) <= set(prepared.handler.outputs or self.good_outputs)

    def test_a_failing_step_is_an_error_result_with_the_guides_fields(self, tmp_path: Path) -> None:
        _, prepared = self.prepare(tmp_path, self.failing_step)
        result = self.execute(tmp_path, prepared)
        assert result.status == STATUS_ERROR and not result.delta
        assert result.error is not None and ERROR_FIELDS <= set(result.error)
        assert result.error["step"] == prepared.step.name and result.error["exit_code"] != 0

    def test_an_invalid_step_is_refused_at_its_line_before_anything_runs(self, tmp_path: Path) -> None:
        with pytest.raises(RecipeError) as refused:
            self.prepare(tmp_path, self.invalid_step)
        [problem] = refused.value.problems
        assert problem.file.endswith("contract.yaml") and problem.line == 3


# -- caches --------------------------------------------------------------------------------------
class CacheContract:
    """What every cache (a plugin answering ``orch_cache_get`` / ``orch_cache_put``) does.

    Override :meth:`make_cache` to return the plugin object; ``replaces`` names the
    plugins it stands in for (blocked, so the contract sees only this cache). The
    hooks are called through a real plugin manager, configured for ``tmp_path``.
    """

    replaces: ClassVar[tuple[str, ...]] = ("cache",)

    def make_cache(self, workdir: Path) -> Any:
        raise NotImplementedError

    @pytest.fixture
    def cache_hooks(self, tmp_path: Path) -> Any:
        from orchestrator_core.plugin.manager import create_plugin_manager
        from orchestrator_core.run.session import Session

        pm = create_plugin_manager(load_entrypoints=False, blocked=self.replaces,
                                   plugins=[self.make_cache(tmp_path)])
        return Session(Config(workdir=tmp_path, progress=False), pm=pm).hooks

    @staticmethod
    def delta(*pairs: tuple[str, Any]) -> list[Write]:
        return [Write(key, value, "contract_write", "contract") for key, value in pairs]

    @staticmethod
    def got(cache_hooks: Any, key: str) -> list[Write] | None:
        """What ``orch_cache_get`` answers, as writes: a cache may answer a list or a ``CachedResult``."""
        answer = cache_hooks.cache_get(key=key)
        return answer.writes if isinstance(answer, CachedResult) else answer

    def test_an_unknown_key_is_a_miss(self, cache_hooks: Any) -> None:
        assert cache_hooks.cache_get(key="0" * 64) is None

    def test_what_is_put_is_got_back_in_order(self, cache_hooks: Any) -> None:
        stored = self.delta(("a.x_v1", 1), ("a.y_v1", {"nested": [1, 2.5, None, "é", True]}), ("a.x_v1", 2))
        assert cache_hooks.cache_put(key="k1", delta=stored) is True
        got = self.got(cache_hooks, "k1")
        assert [(w.key, w.value, w.who) for w in got] == [(w.key, w.value, w.who) for w in stored]

    def test_accumulating_writes_keep_their_operation(self, cache_hooks: Any) -> None:
        stored = [Write("a.list_v1", "x", "contract_write", "contract", op="append"),
                  Write("a.map_v1", {"k": 1}, "contract_write", "contract", op="update")]
        cache_hooks.cache_put(key="ops", delta=stored)
        assert [(w.key, w.value, w.op) for w in self.got(cache_hooks, "ops")] == [
            ("a.list_v1", "x", "append"), ("a.map_v1", {"k": 1}, "update")]

    def test_keys_are_kept_apart_and_a_new_put_replaces(self, cache_hooks: Any) -> None:
        cache_hooks.cache_put(key="one", delta=self.delta(("k_v1", 1)))
        cache_hooks.cache_put(key="two", delta=self.delta(("k_v1", 2)))
        cache_hooks.cache_put(key="one", delta=self.delta(("k_v1", 3)))
        assert [w.value for w in self.got(cache_hooks, "one")] == [3]
        assert [w.value for w in self.got(cache_hooks, "two")] == [2]

    def test_any_key_text_works(self, cache_hooks: Any) -> None:
        for key in ("a/b/../c", "x" * 500, "sp ace:colon", ".hidden"):
            cache_hooks.cache_put(key=key, delta=self.delta(("k_v1", key)))
            assert [w.value for w in self.got(cache_hooks, key)] == [key]

    def test_an_empty_delta_is_a_hit_not_a_miss(self, cache_hooks: Any) -> None:
        cache_hooks.cache_put(key="empty", delta=[])
        assert self.got(cache_hooks, "empty") == []
