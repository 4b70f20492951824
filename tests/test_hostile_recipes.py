"""Hostile recipes and command lines: a clear error at FILE:LINE (exit 2), never a traceback or a false success."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orchestrator_core.errors import RecipeError
from orchestrator_core.recipe.read import parse_recipe
from orchestrator_core.recipe.yaml_lines import ALIAS_NODE_BUDGET, MAX_DEPTH

FAILING_SCRIPT = "#!/bin/sh\necho 'failing on purpose' >&2\nexit 3\n"


def problems(text: str) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        parse_recipe(textwrap.dedent(text), "r.yaml")
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("field, value, expected", [
    ("retry_delay", ".nan", "'retry_delay' must be a finite number of seconds, got nan"),
    ("retry_delay", ".inf", "'retry_delay' must be a finite number of seconds, got inf"),
    ("timeout", "-.inf", "'timeout' must be a finite number of seconds, got -inf"),
    ("timeout", ".nan", "'timeout' must be a finite number of seconds, got nan"),
    ("timeout", "1.0e+300", "'timeout' must be at most 31622400 seconds (a year), got 1e+300"),
    ("timeout", "1" + "0" * 400, "'timeout' must be at most 31622400 seconds (a year), got an integer of more"),
    ("retry_delay", "-2", "'retry_delay' must be greater than 0, got -2"),
    ("retries", "-1", "'retries' must be 0 or more, got -1"),
    ("retries", "1" + "0" * 30, "'retries' must be at most 1000, got an integer of more than 19 digits"),
])
def test_numbers_out_of_range_are_refused_at_their_line(field, value, expected):
    (found,) = problems(f"""
        steps:
          - name: a
            uses: noop
            {field}: {value}
    """)
    assert found.startswith("r.yaml:5: " + expected)


@pytest.mark.parametrize("value, expected", [
    (".nan", "params 'x': nan is not JSON-safe"),
    ("[1, .inf]", "params 'x.1': inf is not JSON-safe"),
    ("2024-01-01", "params 'x': a date is not JSON-safe"),
    ("!!binary aGVsbG8=", "params 'x': binary data (!!binary) is not JSON-safe"),
    ("{when: 2024-01-01 10:00:00}", "params 'x.when': a date and time is not JSON-safe"),
])
@pytest.mark.parametrize("step_type", ["uses: noop", "module: pkg.steps, function: Step",
                                       "type: shell, script: s.sh"])
def test_params_are_json_safe_for_every_step_type(step_type, value, expected):
    found = problems(f"""
        steps:
          - {{name: a, {step_type},
             params: {{x: {value}}}}}
    """)
    assert [p for p in found if expected in p and p.startswith("r.yaml:4: ")], found


def test_runner_keys_are_reserved_in_the_recipe_context():
    (found,) = problems("""
        context:
          _runner.step_metrics_v1: {}
        steps: [{name: a, uses: noop}]
    """)
    assert found.startswith("r.yaml:3: context key '_runner.step_metrics_v1' is reserved")


def test_an_alias_bomb_stops_at_the_node_budget():
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    text = "\n".join(levels) + "\nsteps: [{name: a, uses: noop}]\n"  # 9**9 values: 3.5 GB as Python lists
    with pytest.raises(RecipeError) as caught:
        parse_recipe(text, "bomb.yaml")
    (found,) = caught.value.problems
    assert found.message.startswith(f"YAML aliases expand to more than {ALIAS_NODE_BUDGET:,} values")
    assert found.file == "bomb.yaml" and found.line is not None


def test_ordinary_alias_reuse_is_fine():
    recipe = parse_recipe(textwrap.dedent("""
        steps:
          - {name: a, uses: noop, params: &p {n: 1, tags: [x, y]}}
          - {name: b, uses: noop, params: *p}
    """), "r.yaml")
    assert recipe.steps[1].params == {"n": 1, "tags": ["x", "y"]}


def test_a_recursive_alias_is_refused():
    (found,) = problems("""
        steps:
          - &s {name: a, uses: noop, params: {me: *s}}
    """)
    assert found == "r.yaml:3: recursive YAML alias: a value contains itself"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 600, 5000])
def test_deep_nesting_is_refused(depth):
    found = problems("steps: [{name: a, uses: noop, params: {x: " + "[" * depth + "]" * depth + "}}]\n")
    assert len(found) == 1 and ("nested too deeply" in found[0] or "maximum nesting depth" in found[0]), found


@pytest.mark.parametrize("tagged, kind", [("!!set {a: null}", "mapping"), ("!custom [1, 2]", "list"),
                                          ("!!omap [{a: 1}]", "list")])
def test_tags_on_collections_are_refused_not_dropped(tagged, kind):
    (found,) = problems(f"""
        steps:
          - name: a
            uses: noop
            params: {{x: {tagged}}}
    """)
    assert found.startswith("r.yaml:5: YAML tag ") and f"is not supported on a {kind}" in found


# -- through the real command line --------------------------------------------------------------------

def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def assert_clean(outcome, code: int) -> None:
    assert outcome.exit_code == code, (outcome.exit_code, outcome.out, outcome.err)
    assert "Traceback" not in outcome.err and "Traceback" not in outcome.out, outcome.err


def test_a_nan_retry_delay_is_refused_before_anything_runs(orch_cli, tmp_path):
    write(tmp_path / "fail.sh", FAILING_SCRIPT).chmod(0o755)
    write(tmp_path / "r.yaml", """
        steps:
          - {name: a, type: shell, script: fail.sh, retries: 1,
             retry_delay: .nan}
    """)
    outcome = orch_cli("run", "r.yaml", "--no-progress")
    assert_clean(outcome, 2)
    assert outcome.out == ""
    assert "r.yaml:3: 'retry_delay' must be a finite number of seconds, got nan" in outcome.err
    assert orch_cli("runs", "list").out.strip() == "(none)"  # nothing ran, nothing recorded


@pytest.mark.parametrize("body, expected", [
    (b"steps:\n  - {name: a, uses: noop}\n  - {name: \xff\xfe, uses: noop}\n",
     "r.yaml:3: the recipe is not UTF-8 text (byte 0xff)"),
    (b"steps:\n  - {name: a, module: '../../etc/passwd', function: X}\n",
     "r.yaml:2: 'module' must be a dotted Python module name like 'pkg.steps', got '../../etc/passwd'"),
    (b"steps:\n  - {name: a, module: os, function: 'path.join'}\n",
     "r.yaml:2: 'function' must be a Python class name, got 'path.join'"),
])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_unreadable_recipes_are_clean_errors(orch_cli, tmp_path, body, expected, command):
    write(tmp_path / "r.yaml", body)
    outcome = orch_cli(command, "r.yaml")
    assert_clean(outcome, 2)
    assert expected in outcome.err


@pytest.mark.parametrize("assignment, expected", [
    ("a_v1=NaN", "a_v1: nan is not JSON-safe"),
    ("a_v1=[1, -Infinity]", "a_v1: -inf is not JSON-safe"),
    ("a_v1=1" + "0" * 5000, "a_v1: the number has too many digits to be JSON data"),
    ("_runner.step_metrics_v1={}", "'_runner.step_metrics_v1' is reserved"),
])
def test_set_refuses_what_the_context_cannot_hold(orch_cli, tmp_path, assignment, expected):
    write(tmp_path / "ok.sh", "#!/bin/sh\necho '{\"status\":\"ok\",\"outputs\":[]}'\n").chmod(0o755)
    write(tmp_path / "r.yaml", "steps: [{name: a, type: shell, script: ok.sh}]\n")
    outcome = orch_cli("run", "r.yaml", "--no-progress", "--set", assignment)
    assert_clean(outcome, 2)
    assert expected in outcome.err
    assert orch_cli("runs", "list").out.strip() == "(none)"


@pytest.mark.parametrize("target", ["missing/events.jsonl", "/nonexistent/x", "."])
def test_an_events_file_that_cannot_be_opened_stops_the_run_before_it_starts(orch_cli, tmp_path, target):
    write(tmp_path / "ok.sh", "#!/bin/sh\necho '{\"status\":\"ok\",\"outputs\":[]}'\n").chmod(0o755)
    write(tmp_path / "r.yaml", "steps: [{name: a, type: shell, script: ok.sh}]\n")
    outcome = orch_cli("run", "r.yaml", "--no-progress", "--events", target)
    assert_clean(outcome, 2)
    assert "--events" in outcome.err
    assert orch_cli("runs", "list").out.strip() == "(none)"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="/dev/full is a Linux device")
def test_an_events_file_on_a_full_disk_lets_the_steps_run_but_fails_the_run(orch_cli, tmp_path):
    write(tmp_path / "ok.sh", "#!/bin/sh\necho '{\"status\":\"ok\",\"outputs\":[]}'\n").chmod(0o755)
    write(tmp_path / "r.yaml", "steps: [{name: a, type: shell, script: ok.sh}]\n")
    outcome = orch_cli("run", "r.yaml", "--no-progress", "--events", "/dev/full")
    assert_clean(outcome, 1)
    assert outcome.err.splitlines()[-1] == (
        "orch: error: the events file /dev/full could not be written (No space left on device): "
        "it ends with the last event written whole")
    assert [line["step"] for line in outcome.lines] == ["a"]
    listed = orch_cli("runs", "list").out.splitlines()
    assert len(listed) == 2 and " error " in listed[1] and "1 ok" in listed[1], listed  # ended, not "killed"


HOSTILE_STEPS = '''
from orchestrator_core import BaseScriptlet, ScriptletError


class BigInteger(BaseScriptlet):
    outputs = ("big_v1",)

    def run(self, ctx, params):
        ctx.set("big_v1", {"n": 10 ** 5000} if params.get("nested") else 10 ** 5000)


class OddDetails(BaseScriptlet):
    def run(self, ctx, params):
        raise ScriptletError("odd", details={"nan": float("nan"), "thing": object(), "big": 10 ** 5000, "n": 1})


class Deep(BaseScriptlet):
    outputs = ("deep_v1",)

    def run(self, ctx, params):
        value = []
        for _ in range(100_000):
            value = [value]
        ctx.set("deep_v1", value)


class BigExtra(BaseScriptlet):
    def run(self, ctx, params):
        return {"big": 10 ** 5000}
'''


@pytest.mark.parametrize("function, params, executor, reason", [
    ("BigInteger", "{}", "inline", "value for key 'big_v1' written by step 'a' is not JSON-safe"),
    ("BigInteger", "{nested: true}", "thread", "value for key 'big_v1' written by step 'a' is not JSON-safe"),
    ("BigInteger", "{}", "process", "value for key 'big_v1' written by step 'a' is not JSON-safe"),
    ("BigExtra", "{}", "inline", "value for key 'big' written by step 'a' is not JSON-safe"),
    ("Deep", "{}", "thread", "value for key 'deep_v1' written by step 'a' is not JSON-safe"),
    ("OddDetails", "{}", "inline", "odd"),
])
def test_values_json_refuses_fail_the_step_not_the_recorder(orch_cli, tmp_path, function, params, executor, reason):
    write(tmp_path / "hostile_steps.py", HOSTILE_STEPS)
    write(tmp_path / "r.yaml", f"""
        steps:
          - {{name: a, module: hostile_steps, function: {function}, executor: {executor}, params: {params}}}
          - {{name: b, module: hostile_steps, function: OddDetails, depends_on: [a]}}
    """)
    outcome = orch_cli("run", "r.yaml", "--no-progress", pythonpath=[tmp_path])
    assert_clean(outcome, 1)
    (line,) = outcome.lines
    assert line["step"] == "a" and line["status"] == "error" and line["reason"].startswith(reason), line
    if function == "OddDetails":
        assert line["details"]["n"] == 1 and line["details"]["nan"] == "nan"
        assert line["details"]["big"] == "<int that JSON cannot hold>"
        assert line["details"]["thing"].startswith("<object object at")
    listed = orch_cli("runs", "list").out.splitlines()
    assert len(listed) == 2 and " error " in listed[1], listed  # the run is recorded, not "killed"


PROCESS_WORKERS_RANGE = "--process-workers must be a whole number of at least 1 and at most 4096"


@pytest.mark.parametrize("args, env, expected", [
    (["--workers", "0"], {}, "--workers"),
    (["--workers", "5000"], {}, "--workers"),
    (["--workers", "1" + "0" * 40], {}, "--workers"),
    (["--executor", "process", "--process-workers", "100000"], {}, PROCESS_WORKERS_RANGE),
    (["--executor", "process"], {"ORCH_PROCESS_WORKERS": "-3"}, PROCESS_WORKERS_RANGE),
    (["--executor", "process"], {"ORCH_PROCESS_WORKERS": "nan"}, "'nan' is not a valid integer"),
])
def test_worker_counts_out_of_range_are_usage_errors(orch_cli, tmp_path, args, env, expected):
    write(tmp_path / "ok.sh", "#!/bin/sh\necho '{\"status\":\"ok\",\"outputs\":[]}'\n").chmod(0o755)
    write(tmp_path / "r.yaml", "steps: [{name: a, type: shell, script: ok.sh}]\n")
    outcome = orch_cli("run", "r.yaml", "--no-progress", *args, env=env)
    assert_clean(outcome, 2)
    assert expected in outcome.err
    assert outcome.out == ""


def test_runner_keys_are_reserved_in_the_api_context(tmp_path, sample_pm):
    from orchestrator_core.config import Config
    from orchestrator_core.errors import UsageError
    from orchestrator_core.run.session import Session

    write(tmp_path / "r.yaml", "steps: [{name: a, uses: fail}]\n")
    session = Session(Config(workdir=tmp_path), pm=sample_pm)
    with pytest.raises(UsageError, match=r"context keys \['_runner.x'\] are reserved"):
        session.plan(str(tmp_path / "r.yaml"), context={"_runner.x": 1})
