"""Every class of recipe problem is reported with its file and line, and nothing runs."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from orchestrator_core.config import Config
from orchestrator_core.errors import RecipeError, line_ranges
from orchestrator_core.run.session import Session


@pytest.fixture
def check(sample_pm, tmp_path):
    """``check(text)`` → the list of problems of the recipe ``text`` (empty when valid)."""

    def run(text: str):
        path = tmp_path / "bad.yaml"
        path.write_text(textwrap.dedent(text).lstrip())
        session = Session(Config(workdir=tmp_path, progress=False), pm=sample_pm)
        try:
            session.validate(session.load(path))
        except RecipeError as exc:
            return exc.problems
        return []

    return run


def only_problem(problems):
    assert len(problems) == 1, problems
    return problems[0]


def test_yaml_syntax_error_names_the_line(check):
    problem = only_problem(check("""
        steps:
          - name: a
            uses: noop
            params: {x: [1, 2}
    """))
    assert "YAML syntax error" in problem.message
    assert problem.line == 4
    assert problem.file.endswith("bad.yaml")


def test_a_tab_in_the_indentation_is_named(check):
    problem = only_problem(check("steps:\n\t- {name: a, uses: noop}\n"))
    assert problem.line == 2
    assert problem.message.endswith("YAML indents with spaces, not tabs")
    problem = only_problem(check("steps:\n  - name: a\n\tuses: noop\n"))
    assert problem.line == 3 and "not tabs" in problem.message
    # a tab inside a quoted value is no problem, and a plain syntax error does not speak of tabs
    assert check('steps:\n  - {name: a, uses: noop, params: {x: "a\tb"}}\n') == []
    assert "tabs" not in only_problem(check("steps:\n  - {name: a, uses: noop, params: {x: [1, 2}\n")).message


def test_unknown_key_with_suggestion(check):
    problem = only_problem(check("""
        steps:
          - name: a
            uses: noop
            depend_on: [b]
    """))
    assert problem.line == 4
    assert "unknown key 'depend_on'" in problem.message
    assert "did you mean 'depends_on'?" in problem.message


def test_unknown_top_level_key(check):
    problem = only_problem(check("""
        name: x
        stepz: []
        steps:
          - uses: noop
    """))
    assert problem.line == 2 and "'stepz'" in problem.message


def test_wrong_type_names_expected_and_found(check):
    problem = only_problem(check("""
        steps:
          - name: a
            uses: noop
            timeout: soon
    """))
    assert problem.line == 4
    assert "'timeout' must be a number, got str 'soon'" in problem.message


def test_unknown_scriptlet_with_suggestion(check):
    problem = only_problem(check("""
        steps:
          - name: a
            uses: write_key
    """))
    assert problem.line == 3
    assert "unknown scriptlet 'write_key'" in problem.message and "did you mean 'write_keys'?" in problem.message


def test_missing_dependency_points_at_the_list_item(check):
    problem = only_problem(check("""
        steps:
          - name: load
            uses: noop
          - name: total
            uses: noop
            depends_on:
              - load
              - lod
    """))
    assert problem.line == 8
    assert "depends on unknown step 'lod'" in problem.message and "did you mean 'load'?" in problem.message


def test_duplicate_step_name(check):
    problem = only_problem(check("""
        steps:
          - name: a
            uses: noop
          - name: a
            uses: noop
    """))
    assert problem.line == 4
    assert "duplicate step name 'a' (first defined at line 2)" in problem.message


def test_duplicate_yaml_key(check):
    problem = only_problem(check("""
        steps:
          - name: a
            uses: noop
            uses: fail
    """))
    assert problem.line == 4 and "given twice" in problem.message


def test_cycle_is_named(check):
    problem = only_problem(check("""
        steps:
          - name: a
            uses: noop
            depends_on: [c]
          - name: b
            uses: noop
            depends_on: [a]
          - name: c
            uses: noop
            depends_on: [b]
    """))
    assert "dependency cycle: a → c → b → a" in problem.message
    assert problem.line == 2


def test_every_problem_is_reported_at_once(check):
    problems = check("""
        steps:
          - name: a
            uses: noop
            timeout: 0
          - name: b
            uses: noop
            retries: -1
            colour: blue
    """)
    assert [(p.line, p.message.split(" (")[0]) for p in problems] == [
        (4, "'timeout' must be greater than 0, got 0"),
        (7, "'retries' must be 0 or more, got -1"),
        (8, "unknown key 'colour' in step b"),
    ]


GREETER = {"greeter/__init__.py": """
    from orchestrator_core import BaseScriptlet, hookimpl

    class Greet(BaseScriptlet):
        name = "greet"
        params_schema = {"type": "object", "additionalProperties": False,
                         "properties": {"who": {"type": "string"}, "times": {"type": "integer"}}}

        def run(self, ctx, params):
            pass

    @hookimpl
    def orch_register_scriptlets():
        return [Greet]
"""}


def test_structure_names_cycles_and_params_in_one_pass_sorted_by_line(orch_cli, make_pack, tmp_path):
    greeter = make_pack("orch-greeter", GREETER, {"greeter": "greeter"})
    (tmp_path / "messy.yaml").write_text(textwrap.dedent("""\
        steps:
          - name: a
            uses: greeet
            depends_on: [c]
          - name: b
            uses: greet
            paramz: {}
          - name: c
            uses: greet
            depends_on: [a, nosuch]
            type: pythn
          - name: d
            uses: greet
            params: {tiems: 2, who: 3}
    """))
    outcome = orch_cli("validate", "messy.yaml", pythonpath=[greeter])
    assert outcome.exit_code == 2
    lines = [line.split(" (")[0].split("; ")[0] for line in outcome.err.splitlines()]
    assert lines == [
        "messy.yaml:2: dependency cycle: a → c → a",
        "messy.yaml:3: unknown scriptlet 'greeet'",
        "messy.yaml:7: unknown key 'paramz' in step b",
        "messy.yaml:10: step 'c' depends on unknown step 'nosuch'",
        "messy.yaml:11: step 'c': unknown step type 'pythn'",
        "messy.yaml:14: step 'd': params.who: 3 is not of type 'string'",
        "messy.yaml:14: step 'd': unknown param 'tiems'",
    ], outcome.err
    assert "unknown scriptlet 'greeet' (did you mean 'greet'?)" in outcome.err
    assert "unknown param 'tiems' (did you mean 'times'?); known: times, who" in outcome.err


WRITER = """
from orchestrator_core import BaseScriptlet


class Put(BaseScriptlet):
    outputs = ("t.value_v1",)

    def run(self, ctx, params):
        ctx.set("t.value_v1", 1)
"""

# Steps writing one key whose dependencies plan order cannot follow: the writers are not compared,
# the graph's problem is reported (it used to be a KeyError from the conflict check).
UNORDERABLE_WRITERS = {
    "cycle.yaml": ("steps:\n  - {name: a, module: writer, function: Put, depends_on: [b]}\n"
                   "  - {name: b, module: writer, function: Put, depends_on: [a]}\n",
                   ["cycle.yaml:2: dependency cycle: a → b → a"]),
    "self.yaml": ("steps:\n  - {name: a, module: writer, function: Put, depends_on: [a]}\n"
                  "  - {name: b, module: writer, function: Put, depends_on: []}\n",
                  ["self.yaml:2: step 'a' depends on itself", "self.yaml:2: dependency cycle: a → a"]),
    "unknown.yaml": ("steps:\n  - {name: a, module: writer, function: Put, depends_on: [nosuch]}\n"
                     "  - {name: b, module: writer, function: Put, depends_on: []}\n",
                     ["unknown.yaml:2: step 'a' depends on unknown step 'nosuch'"]),
}


@pytest.mark.parametrize("name", sorted(UNORDERABLE_WRITERS))
@pytest.mark.parametrize("command", [("validate",), ("run", "--no-progress"), ("run", "--dry-run"), ("graph",),
                                     ("why", "{recipe}", "a")])
def test_writers_of_one_key_in_a_broken_graph_get_the_graphs_problem(orch_cli, tmp_path, name, command):
    (tmp_path / "writer.py").write_text(WRITER)
    text, expected = UNORDERABLE_WRITERS[name]
    (tmp_path / name).write_text(text)
    args = [arg.format(recipe=name) for arg in command] + ([] if "{recipe}" in command else [name])
    outcome = orch_cli(*args, pythonpath=[tmp_path])
    assert outcome.exit_code == 2, outcome.err
    assert "Traceback" not in outcome.err and outcome.out == ""
    assert [line.removeprefix("orch: error: ") for line in outcome.err.splitlines()] == expected


def test_validate_goes_on_to_the_next_recipe_after_a_cycle(orch_cli, tmp_path):
    (tmp_path / "writer.py").write_text(WRITER)
    (tmp_path / "cycle.yaml").write_text(UNORDERABLE_WRITERS["cycle.yaml"][0])
    (tmp_path / "fine.yaml").write_text("steps:\n  - {name: a, module: writer, function: Put}\n")
    outcome = orch_cli("validate", "cycle.yaml", "fine.yaml", pythonpath=[tmp_path])
    assert outcome.exit_code == 2 and "Traceback" not in outcome.err
    assert outcome.err.splitlines() == ["cycle.yaml:2: dependency cycle: a → b → a"]
    assert outcome.out == f"ok: {tmp_path / 'fine.yaml'} (1 steps)\n"


def test_step_needs_something_to_run(check):
    problem = only_problem(check("""
        steps:
          - name: a
            params: {}
    """))
    assert "needs 'uses: <scriptlet>'" in problem.message and problem.line == 2


def test_unknown_step_type_and_executor(check):
    problems = check("""
        steps:
          - name: a
            type: shel
            uses: noop
          - name: b
            uses: noop
            executor: threads
    """)
    by_line = {p.line: p.message for p in problems}
    assert "unknown step type 'shel'" in by_line[3]
    assert "executor 'threads' is not installed" in by_line[7] and "did you mean 'thread'?" in by_line[7]


def test_non_json_initial_context(check):
    problem = only_problem(check("""
        context:
          when: 2025-01-01
        steps:
          - uses: noop
    """))
    assert problem.line == 2 and "'when'" in problem.message and "not JSON-safe" in problem.message


def test_unknown_merge_strategy(check):
    problem = only_problem(check("""
        merge: first_wins
        steps:
          - uses: noop
    """))
    assert "unknown merge strategy 'first_wins'" in problem.message


def test_guide_form_with_module_and_function(check, tmp_path):
    assert check("""
        steps:
          - idx: 14
            name: compute_range
            type: python
            module: orch_sample
            function: SumKeys
            params: {keys: []}
    """) == []
    problem = only_problem(check("""
        steps:
          - idx: 1
            name: r
            type: python
            module: orch_sample.nothing_here
            function: Missing
    """))
    assert problem.line == 5 and "cannot import module 'orch_sample.nothing_here'" in problem.message


def test_implicit_and_explicit_dependencies(sample_pm, tmp_path):
    path = tmp_path / "deps.yaml"
    path.write_text(textwrap.dedent("""
        steps:
          - {name: a, uses: noop}
          - {name: b, uses: noop}
          - {name: c, uses: noop, depends_on: []}
          - {name: d, uses: noop, depends_on: [a, c]}
          - {name: e, uses: noop}
    """))
    recipe = Session(Config(workdir=tmp_path), pm=sample_pm).load(path)
    deps = {s.name: s.depends_on for s in recipe.steps}
    assert deps == {"a": (), "b": ("a",), "c": (), "d": ("a", "c"), "e": ("d",)}


def test_missing_well_known_plugin_names_the_distribution(check):
    problems = check("""
        steps:
          - {name: a, uses: noop, executor: dask}
          - {name: b, type: shell, script: x.sh}
    """)
    messages = " | ".join(p.message for p in problems)
    assert "executor 'dask' is not installed; it is provided by orchestrator-dask: pip install orchestrator-dask" in messages
    assert "unknown step type 'shell'; it is provided by orchestrator-shell-steps" in messages


def test_key_of_another_step_type_is_unknown_here(check):
    problem = only_problem(check("""
        steps:
          - name: a
            uses: noop
            script: run.sh
    """))
    assert problem.line == 4 and "unknown key 'script' in step a" in problem.message


def test_params_are_checked_against_the_scriptlets_schema(sample_pm, register_plugin, check):
    from orchestrator_core import BaseScriptlet, hookimpl

    class Resample(BaseScriptlet):
        name = "resample"
        outputs = ()
        params_schema = {
            "type": "object",
            "properties": {"rate": {"type": "number", "minimum": 1}, "columns": {"type": "array", "items": {"type": "string"}}},
            "required": ["rate"],
            "additionalProperties": False,
        }

    class Pack:
        @hookimpl
        def orch_register_scriptlets(self):
            return [Resample]

    register_plugin(Pack(), "schema-pack")
    problems = check("""
        steps:
          - name: r
            uses: resample
            params:
              rate: 0
              columns:
                - a
                - 3
    """)
    assert [(p.line, p.message) for p in problems] == [
        (5, "step 'r': params.rate: 0 is less than the minimum of 1"),
        (8, "step 'r': params.columns.1: 3 is not of type 'string'"),
    ]
    missing = check("""
        steps:
          - name: r
            uses: resample
            params: {colour: red}
    """)
    assert {p.line for p in missing} == {4}
    assert any("'rate' is a required property" in p.message for p in missing)
    assert any("unknown param 'colour'" in p.message and "known: columns, rate" in p.message for p in missing)


def test_unversioned_output_keys_are_warned_about(sample_pm, tmp_path):
    from orchestrator_core import BaseScriptlet, hookimpl
    from orchestrator_core.recipe.prepare import versioning_warnings

    class Loose(BaseScriptlet):
        name = "loose"
        outputs = ("metrics.summary", "metrics.summary_v2")

    class Pack:
        @hookimpl
        def orch_register_scriptlets(self):
            return [Loose]

    sample_pm.register(Pack(), "loose-pack")
    path = tmp_path / "r.yaml"
    path.write_text("steps: [{name: l, uses: loose}, {name: w, uses: write_keys}]")
    session = Session(Config(workdir=tmp_path), pm=sample_pm)
    warnings = versioning_warnings(session.validate(session.load(path)), str(path))
    assert [(w.message, w.line) for w in warnings] == [
        ("step 'l': output key 'metrics.summary' has no version suffix "
         "(name it like 'metrics.summary_v1' so a later shape can be 'metrics.summary_v2')", 1),
        ("step 'w': 'write_keys' declares no outputs, so its writes are allowed and recorded but not checked "
         "for conflicts before the run; declare them (outputs = (...)) to enable the check", 1)]


@pytest.mark.parametrize("latin1", ["file", "folder"])
def test_a_recipe_whose_path_is_not_utf8_is_refused_with_its_reason(orch_cli, tmp_path, latin1):
    # Its runs could not be recorded: the state store keeps a recipe's name and path as UTF-8 text.
    # The same bytes under a UTF-8 path are read (and kept in the recipe cache) first.
    text = "steps: [{name: a, module: steps, function: Noop}]\n"
    (tmp_path / "r.yaml").write_text(text)
    assert orch_cli("validate", "r.yaml").exit_code == 2  # no module steps: read, then found wanting
    latin = os.fsdecode(b"r\xe9.yaml" if latin1 == "file" else b"d\xe9")  # as Python sees Latin-1 names
    try:
        where, name = (tmp_path, latin) if latin1 == "file" else ((tmp_path / latin), "r.yaml")
        where.mkdir(exist_ok=True)
        (where / name).write_text(text)
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    for command in (("run", name), ("run", name, "--dry-run"), ("why", name, "a"), ("validate", name)):
        outcome = orch_cli(*command, cwd=where)
        assert outcome.exit_code == 2, command
        assert f"{ascii(name)[1:-1]}:1: the recipe's path is not UTF-8 text" in outcome.err, command
        assert "Traceback" not in outcome.err and outcome.out == "", command
    assert not (where / ".orch" / "state.db").exists()


def test_a_module_in_the_working_directory_not_on_the_path_is_named_with_what_to_do(orch_cli, tmp_path):
    """``module: steps`` beside the recipe works with ``python -m``, not with the ``orch`` command:
    the error says where the module is and that ``PYTHONPATH=.`` makes Python look there."""
    (tmp_path / "steps.py").write_text(
        "from orchestrator_core import BaseScriptlet\n\n\nclass A(BaseScriptlet):\n    name = 'wd_a'\n\n"
        "    def run(self, ctx, params):\n        ctx.set('a', 1)\n")
    (tmp_path / "r.yaml").write_text("steps:\n  - {name: a, module: steps, function: A}\n"
                                     "  - {name: b, module: nothing_like_it, function: A}\n")
    env = {"PYTHONPATH": ""}
    failed = orch_cli("run", "r.yaml", "--no-progress", env=env)
    assert failed.exit_code == 2
    assert (f"{tmp_path / 'r.yaml'}:2: cannot import module 'steps': No module named 'steps'; steps.py is in the "
            "working directory, where Python does not look: run with PYTHONPATH=. (or install it)") in failed.err
    assert "r.yaml:3: cannot import module 'nothing_like_it': No module named 'nothing_like_it'\n" in failed.err
    (tmp_path / "r.yaml").write_text("steps:\n  - {name: a, module: steps, function: A}\n")
    orch_cli("run", "r.yaml", "--no-progress", env={"PYTHONPATH": "."}).assert_success()


def test_one_problem_at_many_steps_is_written_once_with_the_lines_it_is_at(orch_cli, tmp_path):
    """100 steps of a module that cannot be imported are one thing to fix: ``orch run`` and
    ``orch validate`` write the problem once and where else it is; ``--json`` keeps every line."""
    steps = "".join(f"  - {{name: s{i}, module: nowhere_to_be_found, function: A}}\n" for i in range(100))
    (tmp_path / "r.yaml").write_text("steps:\n" + steps + "  - {name: other, module: nor_this, function: A}\n")
    recipe = tmp_path / "r.yaml"
    expected = [f"{recipe}:2: cannot import module 'nowhere_to_be_found': No module named 'nowhere_to_be_found'",
                f"{recipe}: the same at 99 more lines: 3-101",
                f"{recipe}:102: cannot import module 'nor_this': No module named 'nor_this'"]
    run = orch_cli("run", "r.yaml", "--no-progress")
    assert run.exit_code == 2
    assert run.err.splitlines() == [f"orch: error: {line}" for line in expected]
    checked = orch_cli("validate", "r.yaml")
    assert checked.exit_code == 2
    assert checked.err.splitlines() == expected
    as_json = json.loads(orch_cli("validate", "r.yaml", "--json").out)
    assert [p["line"] for p in as_json[0]["problems"]] == list(range(2, 103))


def test_line_ranges_write_runs_of_lines_as_ranges_and_stop_after_a_few():
    assert line_ranges([4]) == "4"
    assert line_ranges([3, 7, 9, 10, 11, 12]) == "3, 7, 9-12"
    assert line_ranges(list(range(1, 40, 2)), most=3) == "1, 3, 5, ..."
