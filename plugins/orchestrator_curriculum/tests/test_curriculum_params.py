"""The params of every curriculum recipe are valid, and most pass the quick check (no jsonschema import)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from orchestrator_core.recipe.params import surely_valid
from orchestrator_curriculum import plugin


def test_every_param_of_the_recipes_is_valid_and_takes_the_quick_path():
    schemas = {cls.name: cls.params_schema for cls in (lazy.load() for lazy in plugin.orch_register_scriptlets())}
    checked = quick = 0
    for recipe in sorted(Path(plugin.recipes_dir()).glob("*.yaml")):
        for step in yaml.safe_load(recipe.read_text())["steps"]:
            schema = schemas.get(step.get("uses"))
            if not (schema and step.get("params")):
                continue
            assert jsonschema.Draft202012Validator(schema).is_valid(step["params"]), (recipe.name, step["name"])
            checked += 1
            if "pattern" not in str(schema):
                assert surely_valid(schema, step["params"]), (recipe.name, step["name"])
                quick += 1
    assert checked >= 5 and quick >= checked - 2
