"""Rebuilding a merged key from recorded contributions (state/replay.py): the folding the run did,
in recipe order, and ``None`` wherever the rows cannot say how the run folded them."""

from __future__ import annotations

from orchestrator_core.errors import ContextConflictError
from orchestrator_core.state.replay import carried_writes, starting_writes

RUN = "20261202T000000-aaaaaa"
POSITIONS = {"a": 0, "b": 1, "c": 2}


def row(value, step=None, op="set", who="w", source_run=None):
    return {"value": value, "who": who if step else "initial", "step": step, "ts": "", "source_run": source_run,
            "op": op}


def merged(value, source_run=None):
    return {"value": value, "who": "merge", "step": None, "ts": "", "source_run": source_run, "op": "merge"}


def concatenated(key, current, incoming):
    return current + incoming


def value_of(writes):
    return None if writes is None else writes[-1].value if writes else "absent"


def test_side_by_side_appends_recorded_out_of_order_are_folded_in_recipe_order():
    rows = [row(3, "c", "append"), merged([3]), row(1, "a", "append"), merged([1, 3]),
            row(2, "b", "append"), merged([1, 2, 3])]
    writes = starting_writes("xs", rows, RUN, {"b"}, POSITIONS, concatenated)
    assert value_of(writes) == [1, 3]
    assert [(w.step, w.op, w.value) for w in writes] == [("c", "append", 3), ("a", "append", 1),
                                                        (None, "merge", [1, 3])]
    # carried so into the next run, the key is taken apart again without c
    again = [row(w.value, w.step, w.op, source_run=RUN) if w.step else merged(w.value, RUN) for w in writes]
    assert value_of(starting_writes("xs", again, "20261202T000001-bbbbbb", {"c"}, POSITIONS, concatenated)) == [1]


def test_plain_writes_merge_with_the_strategy_and_the_first_replaces_the_value_before_the_steps():
    rows = [row([0]), row([1], "a"), row([2], "b"), merged([1, 2]), row([3], "c"), merged([1, 2, 3])]
    assert value_of(starting_writes("k", rows, RUN, {"c"}, POSITIONS, concatenated)) == [1, 2]
    assert value_of(starting_writes("k", rows, RUN, {"a", "b", "c"}, POSITIONS, concatenated)) == [0]


def test_a_plain_write_of_a_resumed_run_merges_with_what_the_earlier_run_s_steps_wrote():
    # the latest run resumed from d: a, b, c carried over from the run before it, d merged onto them
    earlier = "20261201T000000-000000"
    rows = [row([1], "a", source_run=earlier), row([2], "b", source_run=earlier), row([3], "c", source_run=earlier),
            merged([1, 2, 3], earlier), row([4], "d"), merged([1, 2, 3, 4])]
    positions = {**POSITIONS, "d": 3}
    assert value_of(starting_writes("k", rows, RUN, {"b", "c"}, positions, concatenated)) == [1, 4]
    # while a value from the recipe's context: is replaced by the first step's plain write
    initial = [row([0], source_run=earlier), row([1], "a", source_run=earlier), merged([1], earlier), row([0]),
               row([4], "d"), merged([4])]
    assert value_of(starting_writes("k", initial, RUN, {"b"}, positions, concatenated)) == [4]


def test_a_key_only_the_steps_run_again_wrote_starts_absent():
    rows = [row(1, "b", "append"), merged([1]), row(2, "c", "append"), merged([1, 2])]
    assert starting_writes("xs", rows, RUN, {"b", "c"}, POSITIONS, concatenated) == []


def test_what_cannot_be_replayed_is_none():
    def refusing(key, current, incoming):
        raise ContextConflictError(f"cannot merge {key!r}: no strategy")

    plain = [row([1], "a"), row([2], "b"), merged([1, 2]), row([3], "c")]
    assert starting_writes("k", plain, RUN, {"c"}, POSITIONS, refusing) is None  # the merge fails now
    old = [row(1, "a", None), row(2, "b", None), {**merged([1, 2]), "op": None}]
    assert starting_writes("xs", old, RUN, {"b"}, POSITIONS, concatenated) is None  # recorded before ops were
    assert carried_writes("xs", old, RUN, [1, 2]) is None
    gone = [row(1, "z", "append"), row(2, "b", "append"), merged([1, 2])]
    assert starting_writes("xs", gone, RUN, {"b"}, POSITIONS, concatenated) is None  # z left the recipe
    outside = [row(1, "a", "append"), merged([1]), {**row([9]), "who": "client"}, row(2, "c", "append"),
               merged([9, 2])]
    assert starting_writes("xs", outside, RUN, {"c"}, POSITIONS, concatenated) is None  # a client wrote between


def test_a_key_no_step_run_again_wrote_is_carried_with_its_contributions_and_its_value():
    rows = [row(1, "a", "append"), row(2, "b", "append"), merged([1, 2])]
    writes = carried_writes("xs", rows, RUN, [1, 2])
    assert [(w.step, w.op, w.value, w.run) for w in writes] == [("a", "append", 1, RUN), ("b", "append", 2, RUN),
                                                                (None, "merge", [1, 2], RUN)]


def test_a_kept_value_that_is_another_json_value_than_the_last_write_is_carried_as_itself():
    """The last contribution set 1, the run kept true (a strategy): the carried key must be true."""
    writes = carried_writes("flag", [row(1, "a")], RUN, True)
    assert [(w.op, w.value) for w in writes] == [("set", 1), ("merge", True)] and writes[-1].value is True
