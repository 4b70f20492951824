"""The context: JSON-safe values, history, step views and merging in recipe order."""

from __future__ import annotations

import math
import os

import pytest

from orchestrator_core import Context, ContextConflictError, ContextError, StepContext
from orchestrator_core.builtin.merge import FailOnConflict, LastWriteWins
from orchestrator_core.model import Write


def lww(key, current, incoming):
    return LastWriteWins().merge(key, current, incoming)


def strict(key, current, incoming):
    return FailOnConflict().merge(key, current, incoming)


def test_values_are_normalised_and_copied():
    ctx = Context()
    ctx.set("a", (1, 2), who="me")
    assert ctx.get("a") == [1, 2]
    ctx.get("a").append(3)
    assert ctx.get("a") == [1, 2], "readers get copies, the context cannot be changed behind its back"


@pytest.mark.parametrize("value", [{1, 2}, object(), math.nan, b"bytes"])
def test_non_json_value_is_refused_naming_key_and_step(value):
    view = StepContext({}, step="load", who="load")
    with pytest.raises(ContextError) as info:
        view.set("numbers.raw_v1", value)
    assert "'numbers.raw_v1'" in str(info.value) and "'load'" in str(info.value)
    assert view.delta == []


def test_a_key_that_is_not_utf8_is_refused_a_value_may_hold_such_a_name():
    name = os.fsdecode(b"caf\xe9.csv")  # a Latin-1 file name, as os.listdir gives it
    view = StepContext({}, step="list", who="list")
    view.set("names_v1", [name])
    assert view.get("names_v1") == [name]
    with pytest.raises(ContextError, match=r"context key 'caf\\udce9.csv_v1' is not UTF-8 text"):
        view.set(f"{name}_v1", 1)
    assert [w.key for w in view.delta] == ["names_v1"]


def test_history_records_who_step_run_and_time():
    ctx = Context(run_id="r1")
    ctx.set("k", 1, who="alice")
    ctx.set("k", 2, who="bob", step="s")
    history = ctx.history("k")
    assert [(h["value"], h["who"], h["step"], h["run"]) for h in history] == [(1, "alice", None, "r1"), (2, "bob", "s", "r1")]
    assert all(h["ts"].endswith("Z") for h in history)
    assert ctx.to_dict() == {"k": 2}


def test_step_view_records_a_delta_without_touching_the_context():
    ctx = Context({"x": 1})
    view = StepContext(ctx, step="s", who="scriptlet", outputs=frozenset({"y"}))
    view.set("y", 2)
    assert view.get("y") == 2 and view.get("x") == 1
    assert "y" not in ctx
    assert [(w.key, w.value, w.who, w.step) for w in view.delta] == [("y", 2, "scriptlet", "s")]


def test_undeclared_write_is_an_error():
    view = StepContext({}, step="s", who="s", outputs=frozenset({"a_v1"}))
    with pytest.raises(ContextError, match="undeclared key 'b_v1'.*declared outputs: a_v1"):
        view.set("b_v1", 1)


def test_runner_keys_are_reserved():
    view = StepContext({}, step="s", who="s")
    with pytest.raises(ContextError, match="belong to the runner"):
        view.set("_runner.step_metrics_v1", {})


def writes(step, **values):
    return [Write(k, v, step, step) for k, v in values.items()]


@pytest.mark.parametrize("order", [("early", "late"), ("late", "early")])
def test_merge_follows_recipe_order_not_completion_order(order):
    ctx = Context()
    deltas = {"early": (1, writes("early", k="from early")), "late": (2, writes("late", k="from late"))}
    for name in order:
        position, delta = deltas[name]
        ctx.apply(delta, position=position, merge=lww)
    assert ctx.get("k") == "from late"
    assert {h["step"] for h in ctx.history("k")} == {"early", "late"}


def test_fail_on_conflict_names_both_steps_and_applies_nothing():
    ctx = Context()
    ctx.apply(writes("a", k=1, other=1), position=0, merge=strict)
    with pytest.raises(ContextConflictError, match="steps 'a' and 'b' both wrote it"):
        ctx.apply(writes("b", k=2, fresh=3), position=1, merge=strict)
    assert ctx.get("k") == 1 and "fresh" not in ctx
    ctx.apply(writes("c", k=1), position=2, merge=strict)  # same value is no conflict
    assert ctx.get("k") == 1


def test_initial_values_are_not_conflicts():
    ctx = Context({"k": 0})
    ctx.apply(writes("a", k=1), position=0, merge=strict)
    assert ctx.get("k") == 1


def contributions(step, op, **values):
    return [Write(k, v, step, step, op=op) for k, v in values.items()]


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_accumulating_writes_keep_every_contribution_in_recipe_order(order):
    ctx = Context({"tags": {"kind": "demo"}})
    steps = ["a", "b", "c"]
    for position in order:
        step = steps[position]
        ctx.apply(contributions(step, "append", stations=step.upper())
                  + contributions(step, "update", tags={step: position}), position=position, merge=lww,
                  mergeable=lambda key, earlier, later: False)  # no step depends on another
    assert ctx.get("stations") == ["A", "B", "C"]
    assert ctx.get("tags") == {"kind": "demo", "a": 0, "b": 1, "c": 2}
    assert sorted((h["value"], h["step"], h["op"]) for h in ctx.history("stations")) == [
        ("A", "a", "append"), ("B", "b", "append"), ("C", "c", "append")]


def test_unordered_plain_writes_conflict_naming_both_steps_and_apply_nothing():
    ctx = Context()
    unordered = lambda key, earlier, later: False  # noqa: E731
    ctx.apply(writes("a", k=1), position=0, merge=lww, mergeable=unordered)
    with pytest.raises(ContextConflictError, match="steps 'a' and 'b' both wrote 'k' and neither depends"):
        ctx.apply(writes("b", k=2, fresh=3), position=1, merge=lww, mergeable=unordered)
    assert ctx.get("k") == 1 and "fresh" not in ctx
    ctx.apply(contributions("c", "append", items=1), position=2, merge=lww, mergeable=unordered)
    with pytest.raises(ContextConflictError, match="steps 'c' and 'd' both wrote 'items'"):
        ctx.apply(writes("d", items=[9]), position=3, merge=lww, mergeable=unordered)  # a set among appends
    assert ctx.get("items") == [1]


def test_an_ordered_plain_write_after_contributions_replaces_them():
    ctx = Context()
    ctx.apply(contributions("a", "append", items=1), position=0, merge=lww)
    ctx.apply(contributions("b", "append", items=2), position=1, merge=lww)
    ctx.apply(writes("c", items=["reset"]), position=2, merge=lww)
    ctx.apply(contributions("d", "append", items=3), position=3, merge=lww)
    assert ctx.get("items") == ["reset", 3]


def test_step_view_accumulates_and_refuses_a_mismatch_or_a_set_of_an_accumulated_key():
    ctx = Context({"n": 5})
    view = StepContext(ctx, step="s", who="w", outputs=frozenset({"items", "n"}), accumulates=frozenset({"items"}))
    view.append("items", 1)
    view.append("items", {"x": 2})
    assert view.get("items") == [1, {"x": 2}] and "items" not in ctx
    with pytest.raises(ContextError, match="may only accumulate 'items'"):
        view.set("items", [])
    with pytest.raises(ContextError, match="cannot append 'n' by step 's': it needs a list, got int"):
        view.append("n", 1)
    ctx.apply(view.delta, position=0, merge=lww)
    assert ctx.get("items") == [1, {"x": 2}]


def test_a_standalone_context_accumulates_too():
    ctx = Context()
    ctx.append("k", 1, who="me")
    ctx.update("m", {"a": 1}, who="me")
    assert ctx.to_dict() == {"k": [1], "m": {"a": 1}}
    assert ctx.history("k")[0]["op"] == "append"
