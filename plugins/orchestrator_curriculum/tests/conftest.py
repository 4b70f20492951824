"""Shared fixtures of the curriculum tests: the pack registered in-process, and its recipes by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from orchestrator_core.scriptlet.standalone import run_scriptlet
from orchestrator_curriculum import plugin

RECIPES = plugin.recipes_dir()

# The `value` column of the packaged numbers.csv once its six dirty rows are left out.
SAMPLE_VALUES = (12.5, 47.25, 84.0, 91.75, 105.0, 30.0, 256.0, 97.0, 60.0, 121.0, 143.0, 18.0,
                 210.0, 64.0, 1001.0, 360.0, 9973.0, 8.0)


@pytest.fixture
def curriculum_pm(orch_pm, register_plugin):
    """The built-in plugins plus this pack, registered in-process (no installed entry points)."""
    register_plugin(plugin, "curriculum")
    return orch_pm


@pytest.fixture
def run_curriculum(curriculum_pm, run_orch_recipe) -> Callable[..., Any]:
    """``run_curriculum("06_parallel_fan_in", **options)``: one of the pack's recipes, in-process."""
    return lambda name, **options: run_orch_recipe(RECIPES / f"{name}.yaml", **options)


@pytest.fixture
def run_step(tmp_path: Path) -> Callable[..., Any]:
    """``run_step(Class, params=None, context=None)``: one scriptlet alone, in ``tmp_path``."""
    return lambda cls, params=None, context=None: run_scriptlet(cls, params or {}, context or {}, workdir=tmp_path)


@pytest.fixture
def sample_values() -> list[float]:
    """The numbers ``load_numbers`` must find in the packaged sample, written out by hand."""
    return list(SAMPLE_VALUES)


@pytest.fixture
def written() -> Callable[[Any], dict[str, Any]]:
    """``written(result)``: the keys a step wrote, with their last values."""
    return lambda result: {write.key: write.value for write in result.delta}
