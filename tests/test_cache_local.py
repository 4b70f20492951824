"""The content-hash cache: hits, what invalidates an entry, corrupt entries, --no-cache, dry runs.

Whether a step really ran is read from ``calls.log``, which every test scriptlet
appends its step name to, as well as from the ``"cache"`` field of its JSON line.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from orchestrator_core import hookimpl
from orchestrator_core.builtin.cache_local import LocalCache, clear, decode_entry, encode_entry
from orchestrator_core.builtin.cache_table import EntryTable
from orchestrator_core.testing.contracts import CacheContract
from orchestrator_core.model import CachedResult, Write

SCRIPTLETS = Path(__file__).with_name("test_state_scriptlets.py")

RECIPE = """
name: cached
steps:
  - {name: a, module: steps_one, function: Emit, params: {values: {t.a_v1: 1}}, cache: true}
  - {name: b, module: steps_two, function: Emit, params: {values: {t.b_v1: 2}}, cache: true, depends_on: []}
  - {name: total, module: steps_two, function: Sum, params: {keys: [t.a_v1, t.b_v1]}, cache_key: total,
     depends_on: [a, b]}
  - {name: plain, module: steps_two, function: Emit, params: {values: {t.e_v1: 5}}, depends_on: [total]}
"""


def stored_entries(state_dir: Path) -> dict[str, str]:
    """Key -> entry text of the built-in cache under ``state_dir`` (empty when it has none)."""
    path = state_dir / "cache" / "entries.db"
    if not path.exists():
        return {}
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT key, entry FROM entries"))


@pytest.fixture
def project(tmp_path, monkeypatch, orch_cli):
    """A working directory with the recipe, two copies of the scriptlets, and ``orch`` to run there."""
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    shutil.copy(SCRIPTLETS, tmp_path / "steps_one.py")
    shutil.copy(SCRIPTLETS, tmp_path / "steps_two.py")
    (tmp_path / "cached.yaml").write_text(RECIPE)

    class Project:
        path = tmp_path

        def orch(self, *args, **kw):
            return orch_cli(*args, pythonpath=[tmp_path], **kw)

        def run(self, *args):
            """Run the recipe; return {step: cache field} and the steps that really ran."""
            before = self.calls()
            outcome = self.orch("run", "cached.yaml", "--no-progress", *args).assert_success()
            ran = self.calls()[len(before):]
            return {line["step"]: line.get("cache") for line in outcome.lines}, ran, outcome

        def calls(self):
            log = tmp_path / "calls.log"
            return log.read_text().split() if log.exists() else []

        def edit(self, old, new):
            recipe = tmp_path / "cached.yaml"
            text = recipe.read_text()
            assert old in text
            recipe.write_text(text.replace(old, new))

        def context(self):
            return json.loads(self.orch("context", "show", "--json").assert_success().out)

    return Project()


def test_unchanged_inputs_are_hits_and_run_nothing(project):
    cache, ran, _ = project.run()
    assert cache == {"a": "miss", "b": "miss", "total": "miss", "plain": None}
    assert ran == ["a", "b", "total", "plain"]
    cache, ran, outcome = project.run()
    assert cache == {"a": "hit", "b": "hit", "total": "hit", "plain": None}
    assert ran == ["plain"]  # only the step that is not cacheable ran again
    assert outcome.lines[2]["outputs"] == ["t.sum_v1"]
    assert project.context()["t.sum_v1"] == 3
    steps = json.loads(project.orch("runs", "show", "latest", "--json").out)["steps"]
    assert {s["step"]: s["cache"] for s in steps} == {"a": "hit", "b": "hit", "total": "hit", "plain": None}


def test_a_param_change_reruns_the_step_and_only_what_its_output_changes(project):
    project.run()
    project.edit("{values: {t.b_v1: 2}}", "{values: {t.b_v1: 2}, note: same output}")
    cache, ran, _ = project.run()
    assert cache["b"] == "miss" and cache["a"] == "hit"
    assert cache["total"] == "hit"  # b wrote what it wrote before: total's inputs did not change
    assert ran == ["b", "plain"]


def test_a_hit_leaves_the_recorded_fingerprint_as_it_is_and_a_new_key_replaces_it(project):
    def recorded() -> dict[str, tuple[str, str]]:
        with sqlite3.connect(project.path / ".orch" / "state.db") as conn:
            return {step: (key, run) for step, key, run in conn.execute("SELECT step, key, run FROM fingerprints")}

    def run_id() -> str:
        return json.loads(project.orch("runs", "show", "latest", "--json").out)["id"]

    project.run()
    first, first_run = recorded(), run_id()
    assert set(first) == {"a", "b", "total"} and {run for _, run in first.values()} == {first_run}
    cache, _, _ = project.run()
    assert set(cache.values()) == {"hit", None}
    assert recorded() == first  # the hits found the fingerprints already recorded: no row rewritten
    project.edit("{values: {t.b_v1: 2}}", "{values: {t.b_v1: 2}, note: same output}")
    cache, _, _ = project.run()
    assert cache["b"] == "miss"
    now = recorded()
    assert now["b"][0] != first["b"][0] and now["b"][1] == run_id()  # the new key, by the run that found it
    assert now["a"] == first["a"] and now["total"] == first["total"]
    out = project.orch("why", "cached.yaml", "b").assert_success().out
    assert "its fingerprint is in the cache" in out  # orch why compares against the recorded key


def test_an_upstream_output_change_reruns_the_dependents(project):
    project.run()
    project.edit("{t.a_v1: 1}", "{t.a_v1: 10}")
    cache, ran, _ = project.run()
    assert cache == {"a": "miss", "b": "hit", "total": "miss", "plain": None}
    assert ran == ["a", "total", "plain"]
    assert project.context()["t.sum_v1"] == 12
    cache, ran, _ = project.run()
    assert cache == {"a": "hit", "b": "hit", "total": "hit", "plain": None} and ran == ["plain"]


def test_a_source_edit_reruns_the_scriptlets_of_that_module_only(project):
    project.run()
    with open(project.path / "steps_one.py", "a") as source:
        source.write("\n# an edit that changes nothing the step does\n")
    cache, ran, _ = project.run()
    assert cache == {"a": "miss", "b": "hit", "total": "hit", "plain": None}
    assert ran == ["a", "plain"]


def test_a_cache_key_change_reruns_the_step(project):
    project.run()
    project.edit("cache_key: total", "cache_key: total2")
    cache, ran, _ = project.run()
    assert cache["total"] == "miss" and ran == ["total", "plain"]


def test_a_corrupt_entry_is_a_miss_with_a_warning(project):
    project.run()
    keys = sorted(stored_entries(project.path / ".orch"))
    assert len(keys) == 3
    with sqlite3.connect(project.path / ".orch" / "cache" / "entries.db") as conn:
        for key, text in zip(keys, ["{not json", "\ufffd\x00garbage",
                                    json.dumps({"format": "orch.cache/1", "writes": [{"nokey": 1}]})]):
            conn.execute("UPDATE entries SET entry = ? WHERE key = ?", (text, key))
    cache, ran, outcome = project.run()
    assert cache == {"a": "miss", "b": "miss", "total": "miss", "plain": None}
    assert ran == ["a", "b", "total", "plain"]
    assert outcome.err.count("is unreadable") == 3 and "Traceback" not in outcome.err
    assert "treated as a miss" in outcome.err
    cache, ran, _ = project.run()  # the entries were written again
    assert cache == {"a": "hit", "b": "hit", "total": "hit", "plain": None} and ran == ["plain"]


def test_no_cache_neither_reads_nor_writes_and_cache_clear_empties_both_stores(project):
    # A cacheable step's line always says whether it was served from the cache: with
    # --no-cache it ran, so it is a miss; the step that is not cacheable says nothing.
    cache, ran, _ = project.run("--no-cache")
    assert cache == {"a": "miss", "b": "miss", "total": "miss", "plain": None}
    assert not stored_entries(project.path / ".orch")
    assert not (project.path / ".cache").exists()  # no marker either
    project.run()
    assert (project.path / ".cache" / "total.done").is_file()  # cache_key: total
    cache, ran, _ = project.run("--no-cache")
    assert ran == ["a", "b", "total", "plain"] and cache == {"a": "miss", "b": "miss", "total": "miss", "plain": None}
    cleared = json.loads(project.orch("cache", "clear", "--json").assert_success().out)
    assert (cleared["removed"], cleared["markers_removed"]) == (3, 1)
    assert not (project.path / ".cache").exists()
    cache, ran, _ = project.run()
    assert cache["a"] == "miss" and ran == ["a", "b", "total", "plain"]
    assert "removed 3 cache entries" in project.orch("cache", "clear").assert_success().out


def test_state_dir_moves_the_cache_too(project):
    project.run("--state-dir", "elsewhere")
    assert len(stored_entries(project.path / "elsewhere")) == 3
    assert not (project.path / ".orch").exists()
    cache, _, _ = project.run("--state-dir", "elsewhere")
    assert cache["a"] == "hit"
    cache, _, _ = project.run()
    assert cache["a"] == "miss"


def test_dry_run_and_why_say_what_would_run_and_why(project):
    def dry():
        outcome = project.orch("run", "cached.yaml", "--dry-run", "--json").assert_success()
        return {e["step"]: e for e in json.loads(outcome.out)}

    first = dry()
    assert {s: e["would"] for s, e in first.items()} == {"a": "run", "b": "run", "total": "run", "plain": "run"}
    assert first["a"]["reason"].startswith("never run")
    assert "never run" in first["total"]["reason"] or "has never run" in first["total"]["reason"]
    assert first["plain"]["reason"].startswith("not cacheable")
    assert not (project.path / "calls.log").exists()  # nothing ran
    assert not (project.path / ".orch" / "state.db").exists()  # and nothing was recorded

    project.run()
    again = dry()
    assert {s: e["would"] for s, e in again.items()} == {"a": "hit", "b": "hit", "total": "hit", "plain": "run"}

    project.edit("{t.a_v1: 1}", "{t.a_v1: 10}")
    project.edit("{values: {t.b_v1: 2}}", "{values: {t.b_v1: 2}, note: same output}")
    changed = dry()
    assert changed["a"]["would"] == "run" and changed["a"]["changed"] == ["params"]
    assert "t.a_v1" in changed["a"]["reason"]
    assert changed["b"]["changed"] == ["params"] and "note added" in changed["b"]["reason"]
    # a and b would run: total's verdict rests on what they wrote last time
    assert changed["total"]["would"] == "hit" and changed["total"]["assumes"] == ["a", "b"]

    project.run()
    why = json.loads(project.orch("why", "cached.yaml", "total", "--json").assert_success().out)
    assert why["would"] == "hit" and why["key"] == why["previous_key"]
    with open(project.path / "steps_two.py", "a") as source:
        source.write("\n# edited\n")
    why = json.loads(project.orch("why", "cached.yaml", "total", "--json").assert_success().out)
    assert why["would"] == "run" and why["changed"] == ["source"]
    text = project.orch("why", "cached.yaml", "total").assert_success().out
    assert text.startswith("total: would run: source of the scriptlet changed")
    table = project.orch("run", "cached.yaml", "--dry-run").assert_success().out
    assert table.splitlines()[0].split() == ["STEP", "WOULD", "WHY"]
    missing = project.orch("why", "cached.yaml", "totl")
    assert missing.exit_code == 2 and "did you mean 'total'?" in missing.err


def test_why_names_the_upstream_step_whose_output_changed(project):
    project.run()
    project.edit("{t.a_v1: 1}", "{t.a_v1: 7}")
    project.orch("run", "cached.yaml", "--only", "a").assert_success()  # a reran: its output is now 7
    why = json.loads(project.orch("why", "cached.yaml", "total", "--json").assert_success().out)
    assert why["would"] == "run" and why["changed"] == ["upstream:a"]
    assert why["reason"] == "output of upstream step 'a' changed"


# -- in-process: the engine's side of the cache ---------------------------------------------------
def test_a_hit_still_fires_the_lifecycle_hooks_and_merges_the_delta(sample_pm, run_orch_recipe, hook_recorder):
    recipe = """
    steps:
      - {name: one, uses: write_keys, params: {values: {t.a_v1: 1}}, cache: true}
      - {name: two, uses: sum_keys, params: {keys: [t.a_v1]}, cache_key: sum}
    """
    first = run_orch_recipe(recipe)
    assert [line["cache"] for line in first.lines] == ["miss", "miss"]
    hook_recorder.calls.clear()
    second = run_orch_recipe(recipe)
    assert [line["cache"] for line in second.lines] == ["hit", "hit"]
    assert second.result.steps["two"].cache == "hit" and second.context["t.sum_v1"] == 1
    names = hook_recorder.names()
    assert names.count("orch_before_step") == 2 and names.count("orch_after_step") == 2
    write = second.result.steps["one"].delta[0]
    assert (write.step, write.run) == ("one", second.result.run_id)  # attributed to this run
    assert second.context["_runner.step_metrics_v1"]["one"]["cache"] == "hit"
    # a hit ran on no executor, and carries the fingerprint it was found under
    hit, ran = second.result.steps["one"], first.result.steps["one"]
    assert (hit.executor, hit.attempts) == (None, 1) and ran.executor in ("inline", "thread")
    assert hit.fingerprint is not None and hit.fingerprint == ran.fingerprint
    assert hit.fingerprint.inputs["params"] == {"values": {"t.a_v1": 1}}


def test_the_state_recorder_learns_fingerprints_from_results_not_from_the_key_hook(sample_pm):
    answering = {impl.plugin_name for impl in sample_pm.hook.orch_cache_key.get_hookimpls()}
    assert "state" not in answering and "cache" in answering


def test_a_cache_plugin_is_given_the_run_the_step_and_the_result(sample_pm, register_plugin, run_orch_recipe):
    seen = []

    class Probe:
        @hookimpl
        def orch_cache_get(self, key, run, step):
            seen.append(("get", run.id, step.name))

        @hookimpl
        def orch_cache_put(self, key, delta, run, step, result):
            seen.append(("put", run.id, step.name, result.extras, [w.key for w in delta]))

    register_plugin(Probe(), "probe")
    outcome = run_orch_recipe("steps: [{name: one, uses: write_keys, params: {values: {t.a_v1: 1}}, cache: true}]")
    run_id = outcome.result.run_id
    assert seen == [("get", run_id, "one"), ("put", run_id, "one", {}, ["t.a_v1"])]
    assert run_orch_recipe("steps: [{name: one, uses: write_keys, params: {values: {t.a_v1: 1}}, cache: true}]"
                           ).lines[0]["cache"] == "hit"  # the built-in store answered after the probe


def test_a_plugin_can_pre_empt_the_built_in_cache(sample_pm, register_plugin, run_orch_recipe, tmp_path):
    stored = {}

    class MemoryCache:
        @hookimpl
        def orch_cache_key(self, step, inputs):
            return f"mem-{step.name}-{inputs['params']['values']['t.a_v1']}"

        @hookimpl
        def orch_cache_get(self, key):
            return stored.get(key)

        @hookimpl
        def orch_cache_put(self, key, delta):
            stored[key] = delta
            return True

    register_plugin(MemoryCache(), "memory-cache")
    recipe = "steps: [{name: one, uses: write_keys, params: {values: {t.a_v1: 1}}, cache: true}]"
    assert run_orch_recipe(recipe).lines[0]["cache"] == "miss"
    assert list(stored) == ["mem-one-1"]
    assert run_orch_recipe(recipe).lines[0]["cache"] == "hit"
    assert not (tmp_path / ".orch" / "cache").exists()  # the built-in store was never asked
    stored["mem-one-1"] = [Write("t.a_v1", 99, "memory")]
    assert run_orch_recipe(recipe).context["t.a_v1"] == 99


# -- the entry table -----------------------------------------------------------------------------
def test_entries_round_trip_through_the_table_and_any_key_is_kept_as_it_is(tmp_path):
    table = EntryTable(tmp_path / "cache")
    assert table.get("abc123") is None and not (tmp_path / "cache").exists()  # a lookup creates nothing
    text = encode_entry("abc123", [Write("k_v1", {"x": [1, 2]}, "me", "s")], {"artifact": "Data/x.json"})
    table.put("abc123", text)
    table.put("../../etc/passwd", text)
    assert decode_entry(table.get("abc123")) == CachedResult([Write("k_v1", {"x": [1, 2]}, "me", "s")],
                                                             {"artifact": "Data/x.json"})
    assert table.count() == 2 and sorted(p.name for p in (tmp_path / "cache").iterdir())[0] == "entries.db"
    table.close()
    with pytest.raises(ValueError, match="not an orch.cache/1 entry"):
        decode_entry("[]")
    (tmp_path / "cache" / "old.json").write_text("{}")  # an entry file of an earlier version
    assert clear(tmp_path / "cache") == 3 and EntryTable(tmp_path / "cache").count() == 0
    assert not (tmp_path / "cache" / "old.json").exists()


def test_two_runs_storing_the_same_entries_at_once_both_succeed_and_the_next_is_all_hits(project):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: project.orch("run", "cached.yaml", "--no-progress"), range(2)))
    for outcome in outcomes:
        outcome.assert_success()
        assert "could not store" not in outcome.err and "unreadable" not in outcome.err
    assert len(stored_entries(project.path / ".orch")) == 3
    cache, ran, _ = project.run()
    assert cache == {"a": "hit", "b": "hit", "total": "hit", "plain": None} and ran == ["plain"]


def test_a_cache_store_that_is_not_a_database_is_a_miss_and_cache_clear_removes_it(project):
    project.run()
    store = project.path / ".orch" / "cache" / "entries.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    store.write_bytes(b"this is not a database" * 100)
    cache, ran, outcome = project.run()
    assert cache == {"a": "miss", "b": "miss", "total": "miss", "plain": None}
    assert "is unreadable" in outcome.err and "could not store cache entry" in outcome.err
    assert "Traceback" not in outcome.err
    project.orch("cache", "clear").assert_success()
    assert not store.exists()
    project.run()
    cache, ran, _ = project.run()
    assert cache == {"a": "hit", "b": "hit", "total": "hit", "plain": None} and ran == ["plain"]


class TestLocalCacheContract(CacheContract):
    """The built-in cache passes the contract every cache plugin is held to."""

    def make_cache(self, workdir):
        return LocalCache()
