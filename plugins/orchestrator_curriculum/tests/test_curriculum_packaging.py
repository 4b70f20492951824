"""The distribution: its entry point, and recipes found both from the source tree and from the wheel."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
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


def test_the_wheel_carries_recipes_data_and_steps_and_finds_its_recipes(tmp_path):
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(tmp_path),
                    str(PROJECT)], check=True, capture_output=True, timeout=120)
    (wheel,) = tmp_path.glob("orchestrator_curriculum-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
        archive.extractall(tmp_path / "site")
    recipes = {p.name for p in REPOSITORY_RECIPES.glob("*.yaml")}
    assert {f"orchestrator_curriculum/recipes/{name}" for name in recipes} <= names
    assert {f"orchestrator_curriculum/steps/{name}" for name in STEP_MODULES} <= names
    assert {"orchestrator_curriculum/data/numbers.csv", "orchestrator_curriculum/data/numbers_short.csv",
            "orchestrator_curriculum/plugin.py"} <= names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
    assert "[orchestrator]\ncurriculum = orchestrator_curriculum.plugin" in entry_points

    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    found = subprocess.run([sys.executable, "-c", "import orchestrator_curriculum.plugin as p; print(p.recipes_dir())"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert Path(found) == tmp_path / "site" / "orchestrator_curriculum" / "recipes"
    assert {p.name for p in Path(found).glob("*.yaml")} == recipes
