"""Packs coexist: a second installed pack ships a recipe and a script named as the curriculum's.

Whatever the plugin order (the other pack's plugin name sorts before or after
``curriculum``), each pack's own recipes run with its own scripts, a bare recipe name
two packs ship is an error naming both (``PACK:NAME`` runs either), a script name two
packs ship is an error only in a recipe of neither pack, and ``orch recipes list``
shows both recipes, marked. A recipe name that is also ``NAME.yaml`` in the working
directory is ambiguous the same way; a path is never a name.
"""

from __future__ import annotations

import json

import pytest

from orchestrator_curriculum import plugin

SANITIZE = """#!/bin/sh
# The other pack's sanitize_csv.sh: not the curriculum's.
printf '{"status":"ok","outputs":["other.sanitized_v1"],"ctx":{"other.sanitized_v1":"the other pack"}}\\n'
"""


def other_pack(plugin_name: str) -> dict[str, str]:
    """A pack whose recipe folder holds ``06_parallel_fan_in.yaml`` and whose script folder holds
    ``sanitize_csv.sh``, as the curriculum's do; its recipe runs the script by name."""
    return {
        "other_pack/__init__.py": '''
            from pathlib import Path

            from orchestrator_core import hookimpl


            @hookimpl
            def orch_register_recipe_dirs():
                here = Path(__file__).parent
                return [here / "recipes", here / "scripts"]
        ''',
        "other_pack/recipes/06_parallel_fan_in.yaml": f'''
            name: {plugin_name}_fan_in
            description: the other pack's recipe of the same name
            steps:
              - name: clean
                type: shell
                script: sanitize_csv.sh
        ''',
        "other_pack/scripts/sanitize_csv.sh": SANITIZE,
    }


def ambiguity(kind: str, what: str, name: str) -> str:
    """The error for ``what`` that the curriculum and pack ``name`` both ship: the packs sorted by
    plugin name, whatever their order as plugins."""
    first, second = sorted(["curriculum", name])
    return (f"{kind} '{what}' is ambiguous: shipped by orchestrator-{first} (plugin '{first}') and "
            f"orchestrator-{second} (plugin '{second}'); give '{first}:{what}' or '{second}:{what}'")


@pytest.fixture(params=["aardvark", "zephyr"])
def other(request, make_pack):
    """The other pack, as plugin ``aardvark`` (before ``curriculum`` in plugin order) or ``zephyr`` (after)."""
    name = request.param
    root = make_pack(f"orchestrator-{name}", other_pack(name), {name: "other_pack"})
    (root / "other_pack/scripts/sanitize_csv.sh").chmod(0o755)
    return name, root


def test_a_recipe_name_two_packs_ship_is_an_error_naming_both_and_pack_name_runs_either(orch_cli, other):
    name, root = other
    bare = orch_cli("run", "06_parallel_fan_in", "--no-progress", pythonpath=[root])
    assert bare.exit_code == 2 and bare.out == ""
    assert ambiguity("recipe", "06_parallel_fan_in", name) in bare.err
    graph = orch_cli("graph", "06_parallel_fan_in", pythonpath=[root])
    assert graph.exit_code == 2 and "is ambiguous" in graph.err

    ours = orch_cli("run", "curriculum:06_parallel_fan_in", "--no-progress", pythonpath=[root]).assert_success()
    assert {"compute_mean", "compute_median", "compute_std"} <= {line["step"] for line in ours.lines}
    theirs = orch_cli("run", f"{name}:06_parallel_fan_in", "--no-progress", pythonpath=[root]).assert_success()
    assert [(line["step"], line["outputs"]) for line in theirs.lines] == [("clean", ["other.sanitized_v1"])]

    typo = orch_cli("run", f"{name}:06_parallel_fan_inn", pythonpath=[root])
    assert typo.exit_code == 2
    assert (f"unknown recipe '{name}:06_parallel_fan_inn': plugin '{name}' ships no '06_parallel_fan_inn' "
            "(did you mean '06_parallel_fan_in'?)") in typo.err
    other_recipes = orch_cli("run", "01_basic_number", "--no-progress", pythonpath=[root]).assert_success()
    assert "ambiguous" not in other_recipes.err


def test_recipes_list_shows_every_packs_recipe_and_marks_a_clash(orch_cli, other):
    name, root = other
    rows = json.loads(orch_cli("recipes", "list", "--json", pythonpath=[root]).assert_success().out)
    fan_in = [(r["qualified"], r["pack"], r["distribution"], r["clash"]) for r in rows
              if r["name"] == "06_parallel_fan_in"]
    assert sorted(fan_in) == sorted([
        ("curriculum:06_parallel_fan_in", "curriculum", "orchestrator-curriculum", True),
        (f"{name}:06_parallel_fan_in", name, f"orchestrator-{name}", True)])
    alone = next(r for r in rows if r["name"] == "01_basic_number")
    assert alone["clash"] is False and alone["pack"] == "curriculum"

    table = orch_cli("recipes", "list", pythonpath=[root]).assert_success()
    first_column = [line.split()[0] for line in table.out.splitlines()[1:]]
    assert {"curriculum:06_parallel_fan_in", f"{name}:06_parallel_fan_in", "01_basic_number"} <= set(first_column)
    assert f"{name}:06_parallel_fan_in (clash)" in table.out
    assert "shipped by more than one pack: 06_parallel_fan_in" in table.err


def test_each_packs_recipes_run_its_own_script_and_another_recipe_must_choose(orch_cli, other, tmp_path):
    name, root = other
    curriculum = orch_cli("run", "02_basic_mixed", "--no-progress", pythonpath=[root]).assert_success()
    assert curriculum.lines[0]["step"] == "sanitize_csv"
    assert "csv.sanitized_path_v1" in curriculum.lines[0]["outputs"]  # the curriculum's script, not the other's

    (tmp_path / "mine.yaml").write_text("steps:\n  - name: clean\n    type: shell\n    script: sanitize_csv.sh\n")
    bare = orch_cli("run", "mine.yaml", "--no-progress", pythonpath=[root])
    assert bare.exit_code == 2 and bare.out == ""
    assert f"mine.yaml:4: step 'clean': {ambiguity('script', 'sanitize_csv.sh', name)}" in bare.err

    (tmp_path / "mine.yaml").write_text(f"steps:\n  - {{name: clean, type: shell, script: '{name}:sanitize_csv.sh'}}\n")
    chosen = orch_cli("run", "mine.yaml", "--no-progress", pythonpath=[root]).assert_success()
    assert chosen.lines[0]["outputs"] == ["other.sanitized_v1"]

    listed = json.loads(orch_cli("steps", "list", "--json", pythonpath=[root]).assert_success().out)
    scripts = sorted((r["uses"], r["pack"]) for r in listed if r["type"] == "shell" and r["name"] == "sanitize_csv.sh")
    assert scripts == sorted([("curriculum:sanitize_csv.sh", "orchestrator-curriculum"),
                              (f"{name}:sanitize_csv.sh", f"orchestrator-{name}")])
    enrich = [r["uses"] for r in listed if r["type"] == "shell" and r["name"] == "enrich_csv.sh"]
    assert enrich == ["enrich_csv.sh"]  # a name one pack ships stays bare


def test_a_recipe_name_that_is_also_a_file_here_is_ambiguous_and_a_path_is_not_a_name(orch_cli, tmp_path):
    own = (plugin.recipes_dir() / "01_basic_number.yaml").read_text()
    copy = own.replace("name: load_numbers", "name: my_load", 1)
    assert copy != own
    (tmp_path / "01_basic_number.yaml").write_text(copy)

    by_name = orch_cli("run", "01_basic_number", "--no-progress")
    assert by_name.exit_code == 2 and by_name.out == ""
    assert ("recipe '01_basic_number' is ambiguous: orchestrator-curriculum (plugin 'curriculum') ships "
            f"{plugin.recipes_dir() / '01_basic_number.yaml'}, and 01_basic_number.yaml is in the working "
            "directory; give './01_basic_number.yaml' for the file or 'curriculum:01_basic_number' for the "
            "pack's recipe") in by_name.err

    local = orch_cli("run", "./01_basic_number.yaml", "--no-progress").assert_success()
    assert [line["step"] for line in local.lines] == ["my_load"]
    installed = orch_cli("run", "curriculum:01_basic_number", "--no-progress").assert_success()
    assert [line["step"] for line in installed.lines] == ["load_numbers"]

    (tmp_path / "01_basic_number").write_text(copy)  # a file named exactly as given is that file
    exact = orch_cli("run", "01_basic_number", "--no-progress").assert_success()
    assert [line["step"] for line in exact.lines] == ["my_load"]

    # In the pack's own recipe folder the file here is the pack's recipe: nothing is ambiguous.
    same = orch_cli("validate", "01_basic_number", cwd=plugin.recipes_dir()).assert_success()
    assert "ambiguous" not in same.err

    (tmp_path / "mine.yaml").write_text("steps:\n  - {name: a, uses: load_numbers}\n")
    unnamed = orch_cli("run", "mine")
    assert unnamed.exit_code == 2
    assert "no installed pack ships a recipe named 'mine'; to run the file here, give its path: './mine.yaml'" \
        in unnamed.err
