"""A key several steps merge into (``ctx.append``, ``ctx.update``, a merge strategy) starts a
``--resume-from``/``--only`` run without the contributions of the steps the run runs again.

Every run is the real ``orch``; each step records what it found in the key before writing
(``saw.STEP``), which is the starting value the fix is about.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

STEPS = '''
import os

from orchestrator_core import BaseScriptlet


class Contribute(BaseScriptlet):
    name = "merged_contribute"

    def run(self, ctx, params):
        key = params["key"]
        ctx.set("saw." + params["me"], ctx.get(key))
        if params["op"] == "append":
            ctx.append(key, params["value"])
        elif params["op"] == "update":
            ctx.update(key, params["value"])
        elif params["op"] == "set":
            ctx.set(key, params["value"])


class FailIf(BaseScriptlet):
    name = "merged_fail_if"

    def run(self, ctx, params):
        if os.path.exists(params["flag"]):
            raise RuntimeError("the flag is there")
'''

APPENDING = """
name: appending
steps:
  - {name: a, module: merged_steps, function: Contribute, params: {me: a, key: xs, op: append, value: 1}}
  - {name: b, module: merged_steps, function: Contribute, params: {me: b, key: xs, op: append, value: 2},
     depends_on: [a]}
  - {name: c, module: merged_steps, function: Contribute, params: {me: c, key: xs, op: read}, depends_on: [b]}
"""

UPDATING = """
name: updating
steps:
  - {name: a, module: merged_steps, function: Contribute, params: {me: a, key: m, op: update, value: {a: 1}}}
  - {name: b, module: merged_steps, function: Contribute, params: {me: b, key: m, op: update, value: {b: 2}},
     depends_on: [a]}
  - {name: c, module: merged_steps, function: Contribute, params: {me: c, key: m, op: update, value: {a: 3}},
     depends_on: [b]}
"""

# plain writes merged by the key's strategy: b's list is added to a's
STRATEGY = """
name: strategy
merge: {keys: {k: append}}
steps:
  - {name: a, module: merged_steps, function: Contribute, params: {me: a, key: k, op: set, value: [1]}}
  - {name: b, module: merged_steps, function: Contribute, params: {me: b, key: k, op: set, value: [2]},
     depends_on: [a]}
  - {name: c, module: merged_steps, function: Contribute, params: {me: c, key: k, op: set, value: [3]},
     depends_on: [b]}
"""

# d depends on a only: --only b leaves d's write in, and a's under it
BRANCHED = STRATEGY.replace("name: strategy", "name: branched") + """\
  - {name: d, module: merged_steps, function: Contribute, params: {me: d, key: k, op: set, value: [4]},
     depends_on: [a]}
"""

# f fails while fail.flag exists: a run stopped there never reached a nor c
GATED = """
name: gated
steps:
  - {name: f, module: merged_steps, function: FailIf, params: {flag: fail.flag}}
  - {name: a, module: merged_steps, function: Contribute, params: {me: a, key: xs, op: append, value: 1},
     depends_on: [f]}
  - {name: c, module: merged_steps, function: Contribute, params: {me: c, key: xs, op: append, value: 3},
     depends_on: [a]}
  - {name: b, module: merged_steps, function: Contribute, params: {me: b, key: xs, op: append, value: 2},
     depends_on: [c]}
"""

WARNING = "contributions included"


@pytest.fixture
def orch(tmp_path, orch_cli, monkeypatch):
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    (tmp_path / "merged_steps.py").write_text(STEPS)
    for name, text in (("appending", APPENDING), ("updating", UPDATING), ("strategy", STRATEGY), ("gated", GATED),
                       ("branched", BRANCHED)):
        (tmp_path / f"{name}.yaml").write_text(text)

    def run(*args):
        return orch_cli(*args, pythonpath=[tmp_path])

    return run


def context(orch):
    return json.loads(orch("context", "show", "--json").assert_success().out)


def resumed(orch, recipe, *selection):
    outcome = orch("run", f"{recipe}.yaml", "--no-progress", *selection).assert_success()
    assert WARNING not in outcome.err, outcome.err
    return context(orch)


def test_an_appended_key_starts_without_what_the_steps_run_again_appended(orch):
    orch("run", "appending.yaml", "--no-progress").assert_success()
    assert context(orch)["xs"] == [1, 2]
    for selection in (["--resume-from", "b"], ["--only", "b"]):
        found = resumed(orch, "appending", *selection)
        assert found["saw.b"] == [1], selection  # b starts from a's contribution alone
        assert found["xs"] == [1, 2], selection  # not [1, 2, 2]
    found = resumed(orch, "appending", "--resume-from", "c")
    assert (found["saw.c"], found["xs"]) == ([1, 2], [1, 2])
    found = resumed(orch, "appending", "--resume-from", "a")
    assert (found["saw.a"], found["xs"]) == (None, [1, 2])  # only steps run again wrote it: absent


def test_a_run_resumed_from_a_resumed_run_takes_the_key_apart_again(orch):
    orch("run", "appending.yaml", "--no-progress").assert_success()
    resumed(orch, "appending", "--resume-from", "c")  # carries xs over, contributions and all
    found = resumed(orch, "appending", "--resume-from", "b")  # from that run: b's item is still b's
    assert (found["saw.b"], found["xs"]) == ([1], [1, 2])
    for _ in range(2):
        found = resumed(orch, "appending", "--resume-from", "b")
        assert (found["saw.b"], found["saw.c"], found["xs"]) == ([1], [1, 2], [1, 2])


def test_an_updated_mapping_starts_with_the_kept_steps_updates_only(orch):
    orch("run", "updating.yaml", "--no-progress").assert_success()
    assert context(orch)["m"] == {"a": 3, "b": 2}
    found = resumed(orch, "updating", "--resume-from", "c")
    assert found["saw.c"] == {"a": 1, "b": 2}  # c's a=3 is not there yet
    assert found["m"] == {"a": 3, "b": 2}
    found = resumed(orch, "updating", "--resume-from", "b")
    assert found["saw.b"] == {"a": 1}


def test_a_key_merged_by_its_strategy_is_rebuilt_with_that_strategy(orch):
    orch("run", "strategy.yaml", "--no-progress").assert_success()
    assert context(orch)["k"] == [1, 2, 3]
    found = resumed(orch, "strategy", "--resume-from", "c")
    assert found["saw.c"] == [1, 2]  # a's [1] and b's [2], merged by 'append': not the [1, 2, 3] c made
    assert found["k"] == [1, 2, 3]  # and c's plain write merges with them, as in the full run
    found = resumed(orch, "strategy", "--resume-from", "b")
    assert (found["saw.b"], found["saw.c"], found["k"]) == ([1], [1, 2], [1, 2, 3])
    found = resumed(orch, "strategy", "--only", "b")
    assert (found["saw.b"], found["k"]) == ([1], [1, 2])  # c, which depends on b, is not run


def test_a_key_rebuilt_from_a_resumed_run_keeps_what_earlier_steps_wrote_under_its_own_steps_writes(orch):
    orch("run", "branched.yaml", "--no-progress").assert_success()
    assert context(orch)["k"] == [1, 2, 3, 4]
    found = resumed(orch, "branched", "--resume-from", "d")  # d's [4] merges onto a's, b's and c's
    assert (found["saw.d"], found["k"]) == ([1, 2, 3], [1, 2, 3, 4])
    found = resumed(orch, "branched", "--only", "b")  # from that run: a's [1] (carried), then d's [4]
    assert found["saw.b"] == [1, 4]


def test_appends_of_steps_the_latest_run_never_reached_are_taken_from_an_earlier_run_as_a_list(orch, tmp_path):
    orch("run", "gated.yaml", "--no-progress").assert_success()
    assert context(orch)["xs"] == [1, 3, 2]
    (tmp_path / "fail.flag").write_text("")
    assert orch("run", "gated.yaml", "--no-progress").exit_code == 1  # stopped at f: a, c and b never ran
    (tmp_path / "fail.flag").unlink()
    found = resumed(orch, "gated", "--resume-from", "b")
    assert (found["saw.b"], found["xs"]) == ([1, 3], [1, 3, 2])  # was: xs started as 1, and b failed


def test_what_steps_after_the_selection_wrote_is_not_taken_from_an_earlier_run_either(orch):
    orch("run", "appending.yaml", "--no-progress").assert_success()
    resumed(orch, "appending", "--only", "c")  # the latest run did not run b
    found = resumed(orch, "appending", "--only", "a")  # b depends on a: what it wrote is left out
    assert (found["saw.a"], found["xs"]) == (None, [1])  # not b's item from the first run, then a's
    assert "saw.b" not in found


def downgraded(db):
    """The store as an orch of schema version 5 left it: no op column."""
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE context_writes DROP COLUMN op")
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()


def test_a_store_recorded_before_write_operations_keeps_the_value_with_a_warning(orch, tmp_path):
    orch("run", "appending.yaml", "--no-progress").assert_success()
    downgraded(tmp_path / ".orch" / "state.db")
    outcome = orch("run", "appending.yaml", "--no-progress", "--resume-from", "b").assert_success()
    assert WARNING in outcome.err and "'xs'" in outcome.err
    assert context(orch)["xs"] == [1, 2, 2]  # as the warning says
    # the value carried over is still of unknown making: the next resume says so too
    outcome = orch("run", "appending.yaml", "--no-progress", "--resume-from", "b").assert_success()
    assert WARNING in outcome.err and "'xs'" in outcome.err
    # a full run records the operations again, and resuming from it is exact
    orch("run", "appending.yaml", "--no-progress").assert_success()
    assert resumed(orch, "appending", "--resume-from", "b")["xs"] == [1, 2]
