"""The plain records of the model (``records.py``) behave as the dataclasses they replace did.

A dataclass compiles its generated methods at every import, which every ``orch`` process paid
for each one it imported; the classes a run imports are records with the same constructor,
equality, hash (the frozen ones) and ``repr``, and a one-step run imports no dataclass at all.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator_core.config import Config
from orchestrator_core.model import Recipe, RunResult, Step
from orchestrator_core.recipe.lookup import RecipeEntry
from orchestrator_core.state.reader import RunRecord
from orchestrator_core.testing.interpreter import interpreter_modules


def test_a_step_compares_hashes_and_shows_itself_without_its_line_numbers():
    one = Step("a", 0, params={"n": 1}, depends_on=("z",), line=3, lines={"params": 4})
    same = Step("a", 0, params={"n": 1}, depends_on=("z",), line=3, lines={"params": 9})
    assert one == same  # the lines of its keys are where it was written, not what it is
    assert one != Step("a", 0, params={"n": 2}, depends_on=("z",), line=3)
    assert one != Step("a", 1, params={"n": 1}, depends_on=("z",), line=3)
    assert repr(one) == ("Step(name='a', index=0, type='python', uses=None, params={'n': 1}, depends_on=('z',), "
                         "parallelizable=None, executor=None, cache=False, cache_key=None, files=(), timeout=None, "
                         "retries=0, retry_delay=0.5, description=None, options={}, line=3)")
    with pytest.raises(TypeError):  # as a frozen dataclass holding a dict: unhashable
        hash(one)
    assert one.line_of("params") == 4 and one.line_of("uses") == 3
    assert Step("a", 0).params == {} and Step("a", 0).params is not Step("b", 1).params


def test_a_recipe_compares_without_its_merge_lines_and_survives_pickle_and_copy():
    steps = (Step("a", 0), Step("b", 1, depends_on=("a",)))
    recipe = Recipe("r", steps, path="/x/r.yaml", merge="last", merge_keys={"k": "append"}, merge_lines={"k": 5})
    assert recipe == Recipe("r", steps, path="/x/r.yaml", merge="last", merge_keys={"k": "append"})
    assert recipe != Recipe("r", steps[:1], path="/x/r.yaml", merge="last", merge_keys={"k": "append"})
    assert "merge_lines" not in repr(recipe) and "merge_keys={'k': 'append'}" in repr(recipe)
    for again in (pickle.loads(pickle.dumps(recipe)), copy.deepcopy(recipe)):
        assert again == recipe and again.merge_lines == {"k": 5} and again.step("b").depends_on == ("a",)


def test_replace_copies_a_step_with_changes_as_dataclasses_replace_did():
    step = Step("a", 0, params={"n": 1}, line=3, lines={"params": 4})
    moved = step.replace(depends_on=("z",), index=5)
    assert (moved.depends_on, moved.index, moved.params, moved.lines) == (("z",), 5, {"n": 1}, {"params": 4})
    assert (step.depends_on, step.index) == ((), 0)
    assert Recipe("r", (step,)).replace(steps=(moved,)).steps == (moved,)
    with pytest.raises(TypeError, match="no field 'nmae'"):
        step.replace(nmae="b")


def test_frozen_records_hash_by_their_compared_values():
    entry = RecipeEntry("r", Path("/x/r.yaml"), "pack")
    assert hash(entry) == hash(RecipeEntry("r", Path("/x/r.yaml"), "pack"))
    assert {entry, RecipeEntry("r", Path("/x/r.yaml"), "pack")} == {entry}
    run = RunRecord("id", "r", None, None, 1.0, None, "ok", state_dir=Path("/a"))
    assert run == RunRecord("id", "r", None, None, 1.0, None, "ok", state_dir=Path("/b"))
    assert "state_dir" not in repr(run)


def test_a_config_resolves_its_folders_compares_by_its_settings_and_is_read_only_once_frozen(tmp_path: Path):
    config = Config(workdir=tmp_path, workers=3)
    assert config.data_dir == tmp_path.resolve() / "Data" and config.state_dir == tmp_path.resolve() / ".orch"
    assert config == Config(workdir=tmp_path, workers=3) and config != Config(workdir=tmp_path, workers=2)
    assert repr(config).startswith(f"Config(workdir={tmp_path.resolve()!r}, ") and "_frozen" not in repr(config)
    config.freeze()
    assert config.frozen
    with pytest.raises(AttributeError, match="read-only"):
        config.workers = 1
    config.stdout = sys.stdout  # the invocation's wiring stays settable
    with pytest.raises(ValueError, match="at least 1"):
        Config(workdir=tmp_path, workers=0)


RUN_AND_LIST_MODULES = """
import atexit, json, sys
out = sys.argv[1]
atexit.register(lambda: json.dump(sorted(sys.modules), open(out, "w")))
sys.argv = ["orch", *sys.argv[2:]]
from orchestrator_core.cli import main
main()
"""


@pytest.mark.parametrize("recipe_cache", ["miss then hit", "off"])
def test_a_one_step_run_imports_no_dataclass(tmp_path: Path, recipe_cache: str):
    """``dataclasses`` (and a dataclass's ~0.5 ms of generated code) stays out of a run's start-up."""
    (tmp_path / "tasks.py").write_text(
        "from orchestrator_core import BaseScriptlet\n\n"
        "class Noop(BaseScriptlet):\n    name = 'noop'\n    outputs = ()\n\n    def run(self, ctx, params):\n        pass\n")
    (tmp_path / "one.yaml").write_text(
        "name: one\nsteps:\n  - {name: t0, type: python, module: tasks, function: Noop, cache: true}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "ORCH_CACHE_DIR": str(tmp_path / "user-cache")}
    env.pop("ORCH_LOG_LEVEL", None)
    if recipe_cache == "off":
        env["ORCH_NO_RECIPE_CACHE"] = "1"
    for attempt in range(2):  # the second run takes the recipe from the cache (and the step's result too)
        modules = tmp_path / f"modules-{attempt}.json"
        command = [sys.executable, "-c", RUN_AND_LIST_MODULES, str(modules), "run", "one.yaml", "--no-progress"]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["status"] == "ok"
        loaded = json.loads(modules.read_text())
        assert "orchestrator_core.run.engine" in loaded and "orchestrator_core.state.store" in loaded
        added = set(loaded) - interpreter_modules(env)
        assert "dataclasses" not in added
        assert "random" not in added  # only a retry's jitter needs it (engine.backoff_delay)


def test_a_run_result_copies_the_context_when_first_read_and_pickles_with_it():
    copies = []

    def snapshot():
        copies.append(1)
        return {"t.a_v1": [1, 2]}

    result = RunResult("r1", "demo", "ok", {}, snapshot)
    assert copies == []  # nothing copied until somebody reads it
    assert result.context == {"t.a_v1": [1, 2]} and result.context is result.context and copies == [1]
    assert result == RunResult("r1", "demo", "ok", {}, {"t.a_v1": [1, 2]})
    assert "context={'t.a_v1': [1, 2]}" in repr(result)
    unread = RunResult("r2", "demo", "ok", {}, lambda: {"t.b_v1": 3})
    again = pickle.loads(pickle.dumps(unread))
    assert again.context == {"t.b_v1": 3} and again.run_id == "r2" and again.not_run == []
