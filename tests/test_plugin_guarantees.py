"""What every plugin can rely on, each checked with a probe plugin through real runs.

The probe is a pack installed through an entry point (a folder on ``PYTHONPATH``) and
steered by environment variables, so each test runs the real ``orch`` command:
``orch_run_finish`` comes whatever happened once the run started, ``orch_configure``
sees the settings the command really uses (and they are read-only after), exit
status 2 means nothing ran. In-process tests cover registration through pluggy
(wrappers and tracing) and the executors' declared default roles.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from orchestrator_core import Executor, ExecutorCapabilities, UsageError, hookimpl
from orchestrator_core.errors import RunStopped
from orchestrator_core.plugin.hooks import Hooks
from orchestrator_core.plugin.registry import Registry
from orchestrator_core.run.session import Session

PROBE = '''
import json
import os

from orchestrator_core import BaseScriptlet, UsageError, hookimpl


class Put(BaseScriptlet):
    name = "probe_put"
    outputs = ("probe.value_v1",)

    def run(self, ctx, params):
        ctx.set("probe.value_v1", params.get("value", 1))


def _note(what, **fields):
    target = os.environ.get("PROBE_OUT")
    if target:
        with open(target, "a") as out:
            out.write(json.dumps({"hook": what, **fields}, default=str) + "\\n")


@hookimpl
def orch_register_scriptlets():
    return [Put]


@hookimpl
def orch_configure(config):
    _note("configure", workers=config.workers, keep_going=config.keep_going, executor=config.executor,
          state_dir=str(config.state_dir), options=dict(config.options))


@hookimpl
def orch_run_start(run):
    try:
        run.config.workers = 1
    except AttributeError as exc:
        _note("config_read_only", error=str(exc))
    if os.environ.get("PROBE_REFUSE_START"):
        raise UsageError("the probe refuses to start")


@hookimpl
def orch_after_step(step):
    if os.environ.get("PROBE_RAISE_AFTER") == step.name:
        raise RuntimeError("probe failure after " + step.name)


@hookimpl
def orch_run_finish(run):
    _note("finish", status=run.status, steps=sorted(run.results))
'''

RECIPE = """\
name: probed
steps:
  - {name: one, uses: probe_put, params: {value: 1}}
  - {name: two, uses: probe_put, params: {value: 2}, depends_on: [one]}
  - {name: three, uses: probe_put, params: {value: 3}, depends_on: [two]}
"""


@pytest.fixture
def probe(make_pack, orch_cli, tmp_path):
    """``probe(*args, env=...)`` → (outcome, notes): ``orch`` run with the probe pack installed."""
    pack = make_pack("orch-probe", {"probe_pack/__init__.py": PROBE}, {"probe": "probe_pack"})
    (tmp_path / "probed.yaml").write_text(RECIPE)
    notes_file = tmp_path / "notes.jsonl"

    def run(*args: str, env: dict[str, str] | None = None):
        notes_file.unlink(missing_ok=True)
        outcome = orch_cli(*args, pythonpath=[pack], env={"PROBE_OUT": str(notes_file), **(env or {})})
        notes = [json.loads(line) for line in notes_file.read_text().splitlines()] if notes_file.exists() else []
        return outcome, notes

    return run


def _recorded_statuses(workdir: Path) -> list[str]:
    """How the runs recorded in ``workdir`` show in ``orch runs list`` (a dead "running" run shows as killed)."""
    from orchestrator_core.run.recorded import open_store

    store = open_store(workdir / ".orch")
    try:
        return [record.shown_status for record in store.runs()]
    finally:
        store.close()


def _hooks(notes: list[dict], name: str) -> list[dict]:
    return [n for n in notes if n["hook"] == name]


def test_a_plugin_raising_after_a_step_still_gets_the_run_finished_and_recorded_as_error(probe, tmp_path):
    outcome, notes = probe("run", "probed.yaml", "--no-progress", env={"PROBE_RAISE_AFTER": "two"})
    assert outcome.exit_code == 1 and "probe failure after two" in outcome.err
    # Quick steps are recorded, then reported, a group at a time (docs/state.md, "Group commit"):
    # 'three' may have finished, and been recorded, before 'two' was reported; it is never reported.
    [finished] = _hooks(notes, "finish")
    assert finished["status"] == "error" and {"one", "two"} <= set(finished["steps"]) <= {"one", "two", "three"}
    assert "three" not in outcome.out
    assert _recorded_statuses(tmp_path) == ["error"]  # not left "running", later listed as "killed"


def test_the_served_run_stops_its_server_when_a_plugin_raises(probe):
    outcome, notes = probe("--log-level", "INFO", "run", "probed.yaml", "--no-progress", "--serve",
                           env={"PROBE_RAISE_AFTER": "one"})
    assert outcome.exit_code == 1
    assert "serving run" in outcome.err and "until the run ends; `orch serve` serves the state store after it" \
        in outcome.err
    assert "stopped the context server of run" in outcome.err and "`orch serve --state-dir" in outcome.err
    assert [n["status"] for n in _hooks(notes, "finish")] == ["error"]


def test_a_start_refused_by_a_plugin_is_exit_2_with_nothing_run_and_the_run_finished(probe, tmp_path):
    outcome, notes = probe("run", "probed.yaml", "--no-progress", env={"PROBE_REFUSE_START": "1"})
    assert outcome.exit_code == 2 and "the probe refuses to start" in outcome.err
    assert outcome.out == ""  # no step line: nothing ran
    assert _hooks(notes, "finish") == [{"hook": "finish", "status": "error", "steps": []}]


def test_orch_configure_sees_the_options_of_the_command_and_the_config_is_read_only_after(probe, tmp_path):
    outcome, notes = probe("run", "probed.yaml", "--no-progress", "--workers", "3", "--keep-going",
                           "--executor", "inline", "--state-dir", "elsewhere")
    outcome.assert_success()
    [configured] = _hooks(notes, "configure")
    assert (configured["workers"], configured["keep_going"], configured["executor"]) == (3, True, "inline")
    assert configured["state_dir"] == str((tmp_path / "elsewhere").resolve())
    assert configured["options"]["serve"] is False  # the server's declared run option, with its default
    [refused] = _hooks(notes, "config_read_only")
    assert "config.workers is read-only" in refused["error"]
    assert (tmp_path / "elsewhere" / "state.db").exists() and not (tmp_path / ".orch").exists()


def test_orch_why_configures_plugins_with_its_state_dir(probe, tmp_path):
    first, _ = probe("run", "probed.yaml", "--no-progress", "--state-dir", "st")
    first.assert_success()
    outcome, notes = probe("why", "probed.yaml", "two", "--state-dir", "st")
    outcome.assert_success()
    assert _hooks(notes, "configure")[0]["state_dir"] == str((tmp_path / "st").resolve())


# -- in process: registration through pluggy, declared default executors ---------------------------
class Lister:
    """Registers one scriptlet, through a plain implementation."""

    @hookimpl
    def orch_register_scriptlets(self):
        from orch_sample import WriteKeys

        return [WriteKeys]


class Renamer:
    """A ``wrapper=True`` implementation around a registration hook: sees and changes what is registered."""

    def __init__(self):
        self.seen: list[list] = []

    @hookimpl(wrapper=True)
    def orch_register_scriptlets(self):
        answers = yield
        self.seen.append(answers)
        return answers


def test_registration_hooks_go_through_pluggy_so_wrappers_and_tracing_see_them(orch_pm, register_plugin,
                                                                                hook_recorder):
    register_plugin(Lister(), "lister")
    renamer = register_plugin(Renamer(), "renamer")
    registry = Registry(Hooks(orch_pm))
    assert registry.get("scriptlet", "write_keys").plugin == "lister"  # still attributed to its plugin
    assert renamer.seen and all(isinstance(answers, list) for answers in renamer.seen)
    assert "orch_register_scriptlets" in hook_recorder.names()  # traced like every other hook
    assert not registry.problems


class Broken:
    @hookimpl
    def orch_register_executors(self):
        raise RuntimeError("cannot list my executors")


def test_a_registration_hook_that_raises_is_a_problem_of_that_plugin_only(orch_pm, register_plugin):
    register_plugin(Broken(), "broken")
    registry = Registry(Hooks(orch_pm))
    assert registry.problems == ["plugin 'broken': orch_register_executors failed: cannot list my executors"]
    assert {"inline", "thread"} <= set(registry.names("executor"))


class Everywhere(Executor):
    name = "everywhere"
    capabilities = ExecutorCapabilities(parallel=True)
    default_for = frozenset({"parallel", "serial"})


class EverywherePlugin:
    @hookimpl
    def orch_register_executors(self):
        return [Everywhere]


def test_executors_declare_what_they_are_the_default_for(sample_pm, register_plugin, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - {name: a, uses: write_keys}\n  - {name: b, uses: noop}\n")
    session = Session(pm=sample_pm)
    prepared = session.validate(session.load(recipe))
    assert (prepared["a"].executor, prepared["b"].executor) == ("thread", "inline")  # the built-ins' roles
    register_plugin(EverywherePlugin(), "everywhere")
    session = Session(pm=sample_pm)
    prepared = session.validate(session.load(recipe))
    assert (prepared["a"].executor, prepared["b"].executor) == ("everywhere", "everywhere")


def test_hook_tracing_logs_registration_calls(monkeypatch, caplog):
    from orchestrator_core.plugin.manager import TRACE_ENV, create_plugin_manager

    monkeypatch.setenv(TRACE_ENV, "1")
    pm = create_plugin_manager(load_entrypoints=False)
    with caplog.at_level(logging.DEBUG, logger="orchestrator.trace"):
        Registry(Hooks(pm))
    assert any("call orch_register_executors" in r.getMessage() for r in caplog.records)


def test_the_config_is_read_only_once_configured(tmp_path: Path):
    session = Session(load_entrypoints=False)
    with pytest.raises(AttributeError, match="read-only"):
        session.config.state_dir = tmp_path
    with pytest.raises(TypeError, match="read-only"):
        session.config.options["serve"] = True


class Refusing(Executor):
    """Passes its check but cannot start: what a cluster that went away looks like mid-run."""

    name = "refusing"

    def start(self):
        raise UsageError("the cluster is gone")


class RefusingPlugin:
    finished: list[str] = []

    @hookimpl
    def orch_register_executors(self):
        return [Refusing]

    @hookimpl
    def orch_run_finish(self, run):
        self.finished.append(run.status)


def test_an_executor_failing_after_steps_ran_is_not_exit_2_and_the_run_is_finished(sample_pm, register_plugin,
                                                                                     run_orch_recipe):
    plugin = register_plugin(RefusingPlugin(), "refusing")
    with pytest.raises(RunStopped, match="the run stopped after 1 step.*the cluster is gone") as stopped:
        run_orch_recipe("""
            steps:
              - {name: a, uses: noop}
              - {name: b, uses: noop, executor: refusing, depends_on: [a]}
        """)
    assert stopped.value.exit_code == 1  # exit status 2 would claim that nothing ran
    assert plugin.finished == ["error"]


class FinishWatch:
    def __init__(self):
        self.finished: list[str] = []

    @hookimpl
    def orch_run_finish(self, run):
        self.finished.append(run.status)


def test_a_run_in_which_a_planned_step_never_ran_is_not_a_success(sample_pm, register_plugin, monkeypatch,
                                                                     run_orch_recipe):
    """Whatever stops the engine early without a failure (a bug, a plugin), the run must not say ok."""
    from orchestrator_core.run import engine as engine_module

    plugin = register_plugin(FinishWatch(), "finish_watch")
    real_init = engine_module.Engine.__init__

    def engine_that_forgets_b(self, run, prepared, hooks, registry):
        full_plan = run.plan
        run.plan = [step for step in full_plan if step.name != "b"]
        real_init(self, run, prepared, hooks, registry)
        run.plan = full_plan  # the plan has two steps; the engine only knows one

    monkeypatch.setattr(engine_module.Engine, "__init__", engine_that_forgets_b)
    outcome = run_orch_recipe("""
        steps:
          - {name: a, uses: noop}
          - {name: b, uses: noop, depends_on: [a]}
    """)
    result = outcome.result
    assert [line["step"] for line in outcome.lines] == ["a"]
    assert result.status == "error" and not result.ok and result.not_run == ["b"]
    assert plugin.finished == ["error"]
