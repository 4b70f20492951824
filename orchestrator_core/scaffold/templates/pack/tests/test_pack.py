"""{{dist}} is installed as an orch plugin and its example recipe runs.

The fixtures (``orch_cli``, ``orch_run_recipe``) come from orch's pytest plugin, which
``addopts`` in pyproject.toml loads (``-p orchestrator_core.testing``).
"""

import json
from pathlib import Path

import {{package}}

RECIPES = Path({{package}}.__file__).parent / "recipes"


def test_plugin_is_installed(orch_cli):
    plugins = {p["name"]: p for p in json.loads(orch_cli("plugins", "list", "--json").assert_success().out)}
    info = plugins["{{name}}"]
    assert info["error"] is None and info["distribution"] == "{{dist}}"
    assert "orch_register_scriptlets" in info["hooks"]


def test_scriptlets_are_registered(orch_cli):
    steps = json.loads(orch_cli("steps", "list", "--json").assert_success().out)
    assert "{{name}}:{{name}}_hello" in {step.get("qualified") for step in steps}


def test_example_recipe_runs(orch_run_recipe):
    outcome = orch_run_recipe(RECIPES / "{{name}}_hello.yaml")
    assert outcome.error is None
    assert outcome.lines[0]["outputs"] == ["{{name}}.greeting_v1"]
    assert outcome.context["{{name}}.greeting_v1"] == "hello, world"
