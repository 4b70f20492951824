"""The distribution: its entry point, and its recipes found from the source tree.

The built wheel and sdist, installed into a new venv, are tested in test_installed_wheels.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator_curriculum import plugin

PROJECT = Path(__file__).resolve().parents[1]
REPOSITORY_RECIPES = PROJECT.parents[1] / "recipes"
STEP_MODULES = sorted(p.name for p in (PROJECT / "orchestrator_curriculum" / "steps").glob("*.py"))


def test_orch_loads_the_pack_from_its_entry_point(orch_cli):
    plugins = {p["name"]: p for p in json.loads(orch_cli("plugins", "list", "--json").assert_success().out)}
    curriculum = plugins["curriculum"]
    assert (curriculum["distribution"], curriculum["module"], curriculum["error"]) == (
        "orchestrator-curriculum", "orchestrator_curriculum.plugin", None)
    assert curriculum["hooks"] == ["orch_register_recipe_dirs", "orch_register_scriptlets"]
    steps = orch_cli("steps", "list", "--json").assert_success().out
    python_steps = [s for s in json.loads(steps) if s["pack"] == "orchestrator-curriculum" and s["type"] == "python"]
    assert len(python_steps) == len(STEP_MODULES) - 1


def test_from_the_source_tree_the_recipes_are_the_repositorys():
    assert plugin.recipes_dir() == REPOSITORY_RECIPES
    assert (REPOSITORY_RECIPES / "12_advanced_full.yaml").is_file()
