"""Steps side by side never lose a write silently, and the guide's §5 scriptlet runs as written.

The scriptlets are in ``parallel_write_steps.py``, ``guide_example_step.py`` (the
guide's §5 class, pasted with only its import lines changed) and
``guide_validate_numbers.py`` (the same pattern with the guide's §9 error).
Most runs are real ``orch`` processes; the 50 repeats on eight threads run in one
process through the API, so the race gets many chances without 50 start-ups.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent

STATIONS = """
name: stations
steps:
  - {name: north, module: parallel_write_steps, function: %(cls)s, params: {station: N, sleep: 0.03}, depends_on: []}
  - {name: east, module: parallel_write_steps, function: %(cls)s, params: {station: E, sleep: 0.0}, depends_on: []}
  - {name: south, module: parallel_write_steps, function: %(cls)s, params: {station: S, sleep: 0.015},
     depends_on: []}
"""
APPEND = STATIONS % {"cls": "AddStation"}
REWRITE_WITH_STRATEGY = "merge: {keys: {geo.stations_v1: append}}\n" + STATIONS % {"cls": "AddStationByRewrite"}
REWRITE = STATIONS % {"cls": "AddStationByRewrite"}
UNDECLARED = STATIONS % {"cls": "AddStationUndeclared"}


@pytest.fixture
def project(tmp_path, orch_cli, monkeypatch):
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)

    class Project:
        path = tmp_path

        def recipe(self, text: str, name: str = "recipe.yaml") -> str:
            (tmp_path / name).write_text(text)
            return name

        def orch(self, *args: str):
            return orch_cli(*args, pythonpath=[HERE])

        def value(self, key: str):
            return json.loads(self.orch("context", "show", key, "--json").assert_success().out)

        def history(self, key: str) -> list[dict]:
            outcome = self.orch("context", "show", key, "--history", "--json").assert_success()
            return json.loads(outcome.out)

    return Project()


@pytest.mark.parametrize("executor", ["inline", "thread", "process", "dask"])
def test_three_stations_end_with_three_items_on_every_executor(project, executor):
    name = project.recipe(APPEND)
    outcome = project.orch("run", name, "--no-progress", "--executor", executor, "--workers", "8")
    assert outcome.exit_code == 0, outcome.err
    assert [line["outputs"] for line in outcome.lines] == [["geo.stations_v1"]] * 3
    assert project.value("geo.stations_v1") == ["N", "E", "S"]
    contributions = [(w["value"], w["step"]) for w in project.history("geo.stations_v1") if w["who"] != "merge"]
    assert sorted(contributions) == [("E", "east"), ("N", "north"), ("S", "south")]


def test_a_rewriting_fan_out_keeps_every_station_when_the_key_has_a_strategy(project):
    name = project.recipe(REWRITE_WITH_STRATEGY)
    assert project.orch("validate", name).exit_code == 0
    outcome = project.orch("run", name, "--no-progress", "--executor", "thread", "--workers", "8")
    assert outcome.exit_code == 0, outcome.err
    assert project.value("geo.stations_v1") == ["N", "E", "S"]


@pytest.mark.parametrize("recipe", [APPEND, REWRITE_WITH_STRATEGY], ids=["append", "rewrite-with-strategy"])
def test_fifty_runs_on_eight_threads_all_keep_three_stations(orch_pm, run_orch_recipe, tmp_path, recipe,
                                                             monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    path = tmp_path / "stations.yaml"
    # Each station reads the list before any writes it back (read_together), as when the threads
    # start at once: a thread held back until south was done would read south's station, and rightly
    # keep it first. The sleeps still make them finish in another order than the recipe's.
    path.write_text(recipe.replace("{station:", "{read_together: 3, station:"))
    finals = set()
    for _ in range(50):
        outcome = run_orch_recipe(path, config={"workers": 8, "executor": "thread"})
        assert outcome.error is None, outcome.lines
        finals.add(tuple(outcome.context["geo.stations_v1"]))
    assert finals == {("N", "E", "S")}, "every run keeps all three, in recipe order"


def test_unordered_writers_of_a_declared_key_are_refused_before_anything_runs(project):
    name = project.recipe(REWRITE)
    for command in (["validate", name], ["run", name, "--no-progress"]):
        outcome = project.orch(*command)
        assert outcome.exit_code == 2, outcome.err
        assert f"{name}:4" in outcome.err and f"{name}:5" in outcome.err, outcome.err
        assert "'north'" in outcome.err and "'east'" in outcome.err and "'geo.stations_v1'" in outcome.err
        assert "neither depends on the other" in outcome.err
    assert not (project.path / ".orch").exists() or json.loads(project.orch("runs", "list", "--json").out) == []


def test_an_undeclared_concurrent_write_fails_the_run_naming_both_steps(project):
    name = project.recipe(UNDECLARED)
    outcome = project.orch("run", name, "--no-progress", "--executor", "thread", "--workers", "8", "--keep-going")
    assert outcome.exit_code == 1
    failed = [line for line in outcome.lines if line["status"] == "error"]
    # The first to finish (east, unless the machine is very busy) is kept; the others each conflict with it.
    (kept,) = [line["step"] for line in outcome.lines if line["status"] == "ok"]
    assert len(failed) == 2, outcome.lines
    for line in failed:
        assert "both wrote 'geo.stations_v1'" in line["reason"] and "neither depends on the other" in line["reason"]
        assert f"'{line['step']}'" in line["reason"] and f"'{kept}'" in line["reason"]
    assert project.value("geo.stations_v1") == [{"north": "N", "east": "E", "south": "S"}[kept]]


def test_writers_ordered_by_dependencies_still_refine_a_key(project):
    name = project.recipe("""
name: refine
steps:
  - {name: v1, module: parallel_write_steps, function: Describe, params: {text: first}}
  - {name: v2, module: parallel_write_steps, function: Describe, params: {text: refined}, depends_on: [v1]}
  - {name: v3, module: parallel_write_steps, function: Describe, params: {text: final}}
""")
    validated = project.orch("validate", name)
    assert validated.exit_code == 0 and "warning" not in validated.err
    project.orch("run", name, "--no-progress", "--executor", "thread").assert_success()
    assert project.value("geo.summary_v1") == "final"


GUIDE = """
name: guide
steps:
  - {name: echo, module: guide_example_step, function: ExampleStep, params: {input: hello}}
  - {name: echo_without_input, module: guide_example_step, function: ExampleStep, params: {}, depends_on: []}
"""


def test_the_guide_example_class_runs_as_written(project):
    name = project.recipe(GUIDE)
    validated = project.orch("validate", name)
    assert validated.exit_code == 0
    assert f"{name}:4: warning: step 'echo': 'example_step' declares no outputs" in validated.err
    assert "enable the check" in validated.err
    outcome = project.orch("run", name, "--no-progress", "--keep-going")
    assert outcome.exit_code == 1
    ok, failed = outcome.lines  # exactly one line per step: the scriptlet's own was adopted
    assert (ok["status"], ok["outputs"], ok["step"]) == ("ok", ["example.echo_v1"], "echo")
    assert (failed["status"], failed["reason"], failed["exit_code"]) == ("error", "input required", 1)
    assert '"status"' not in outcome.err, "the scriptlet's own line is not printed a second time"
    (write,) = project.history("example.echo_v1")
    assert (write["value"], write["who"], write["step"]) == ({"echo": "hello"}, "example_step", "echo")


def test_the_guide_example_still_runs_alone(tmp_path):
    script = HERE / "guide_example_step.py"
    ran = subprocess.run([sys.executable, str(script), "--params", '{"input": 3}'], capture_output=True,
                         text=True, cwd=tmp_path)
    assert (ran.returncode, [json.loads(x) for x in ran.stdout.splitlines()]) == (
        0, [{"status": "ok", "outputs": ["example.echo_v1"]}])
    ran = subprocess.run([sys.executable, str(script), "--params", "{}"], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 1 and json.loads(ran.stdout)["reason"] == "input required"


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_a_status_line_the_scriptlet_prints_is_adopted_into_the_one_line(project, executor):
    name = project.recipe("""
name: numbers
steps:
  - {name: too_few, module: guide_validate_numbers, function: ValidateNumbers, params: {numbers: [1, 2, 3]}}
  - {name: enough, module: guide_validate_numbers, function: ValidateNumbers, params: {numbers: [1, 2, 3, 4, 5]},
     depends_on: []}
""")
    outcome = project.orch("run", name, "--no-progress", "--keep-going", "--executor", executor)
    assert outcome.exit_code == 1
    failed, ok = outcome.lines
    assert failed["reason"] == "Too few numbers (min=5)" and failed["details"] == {"count": 3}
    assert (failed["status"], failed["exit_code"], failed["step"]) == ("error", 1, "too_few")
    assert failed["ts"] != "2025-09-07T12:10:00Z", "the framework's own fields say what happened now"
    assert (ok["status"], ok["outputs"], ok["artifact"]) == ("ok", ["numbers.validated_v1"], "Data/numbers.txt")
    assert "Too few" not in outcome.err
    if executor == "inline":
        assert "validated 5 numbers" in outcome.err  # other prints pass through (to stderr during a run)
    else:
        return

    # python -m style, through the framework (BaseScriptlet.main): the same one line, the same exit status.
    code = "from guide_validate_numbers import ValidateNumbers as V; V.main()"
    ran = subprocess.run([sys.executable, "-c", code, "--params", '{"numbers": [1]}'], capture_output=True,
                         text=True, cwd=project.path, env={"PYTHONPATH": str(HERE), "PATH": ""})
    (line,) = [json.loads(x) for x in ran.stdout.splitlines()]
    assert ran.returncode == 1 and line["reason"] == "Too few numbers (min=5)" and line["details"] == {"count": 1}


def test_a_plugin_registers_a_merge_strategy_by_name(sample_pm, register_plugin, run_orch_recipe):
    from orchestrator_core import hookimpl
    from orchestrator_core import MergeStrategy

    class Larger(MergeStrategy):
        name = "larger"
        description = "the larger of two numbers"

        def merge(self, key, current, incoming):
            return max(current, incoming)

    class Pack:
        @hookimpl
        def orch_register_merge_strategies(self):
            return [Larger]

    register_plugin(Pack(), "larger")
    outcome = run_orch_recipe("""
    merge: {keys: {t.shared_v1: larger}}
    steps:
      - {name: a, uses: write_keys, params: {values: {t.shared_v1: 7}, sleep: 0.05}, depends_on: []}
      - {name: b, uses: write_keys, params: {values: {t.shared_v1: 3}}, depends_on: []}
    """, config={"executor": "thread"})
    assert outcome.error is None and outcome.context["t.shared_v1"] == 7


def test_an_unknown_strategy_for_a_key_is_located(project):
    name = project.recipe("""
merge:
  default: last_write_wins
  keys:
    geo.stations_v1: apend
steps:
  - {name: v1, module: parallel_write_steps, function: Describe, params: {text: first}}
""")
    outcome = project.orch("validate", name)
    assert outcome.exit_code == 2
    assert f"{name}:5: unknown merge strategy 'apend' for key 'geo.stations_v1' (did you mean 'append'?)" in outcome.err


def test_a_printed_status_line_is_passed_on_when_an_exception_decided_the_outcome(capsys):
    from orchestrator_core import BaseScriptlet
    from orchestrator_core.scriptlet.standalone import run_scriptlet

    class PrintsThenRaises(BaseScriptlet):
        def run(self, ctx, params):
            print(json.dumps({"status": "ok", "outputs": []}))
            raise RuntimeError("broke after printing")

    result = run_scriptlet(PrintsThenRaises)
    assert result.error["reason"] == "broke after printing"
    assert '{"status": "ok", "outputs": []}' in capsys.readouterr().err, "not adopted, and not lost either"


@pytest.mark.parametrize("steps,conflict", [
    # two contributors side by side share the key; a plain writer beside them does not
    ("[{name: a, uses: add_station}, {name: b, uses: add_station, depends_on: []}]", None),
    ("[{name: a, uses: add_station}, {name: b, uses: rewrite, depends_on: []}]", ("a", "b")),
    # ordered through a step in between (a -> m -> b): transitively ordered, no conflict
    ("[{name: a, uses: rewrite}, {name: m, uses: add_station}, {name: b, uses: rewrite}]", None),
    # m is a root beside a: a's plain write and m's contribution are not ordered (b, after m, is not after a)
    ("[{name: a, uses: rewrite}, {name: m, uses: add_station, depends_on: []}, {name: b, uses: rewrite}]",
     ("a", "m")),
    ("[{name: a, uses: rewrite}, {name: m, uses: add_station}, {name: b, uses: rewrite, depends_on: []}]",
     ("a", "b")),
])
def test_the_static_check_follows_dependencies_transitively(sample_pm, register_plugin, tmp_path, monkeypatch,
                                                            steps, conflict):
    from orchestrator_core import hookimpl
    from orchestrator_core.config import Config
    from orchestrator_core.errors import RecipeError
    from orchestrator_core.run.session import Session

    monkeypatch.syspath_prepend(str(HERE))
    import parallel_write_steps as pws

    class Rewrite(pws.AddStationByRewrite):
        name = "rewrite"

    class Pack:
        @hookimpl
        def orch_register_scriptlets(self):
            return [pws.AddStation, Rewrite]

    register_plugin(Pack(), "stations")
    path = tmp_path / "r.yaml"
    path.write_text(f"steps: {steps}\n")
    session = Session(Config(workdir=tmp_path, progress=False), pm=sample_pm)
    try:
        session.validate(session.load(path))
        problems = []
    except RecipeError as exc:
        problems = exc.problems
    if conflict is None:
        assert problems == []
    else:
        (problem,) = problems
        assert f"steps {conflict[0]!r}" in problem.message and f"and {conflict[1]!r}" in problem.message
