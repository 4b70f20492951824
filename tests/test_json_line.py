"""A step's JSON line is exactly ``json.dumps(result.line(), separators=(",", ":"))``, however it is built."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_core.model import STATUS_ERROR, STATUS_OK, StepResult, Write

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def reference(result: StepResult) -> str:
    return json.dumps(result.line(), separators=(",", ":")) + "\n"


@settings(max_examples=300, deadline=None)
@given(extras=st.dictionaries(st.text(max_size=10).filter(lambda k: k not in {"status", "outputs", "step",
                                                                              "metrics", "cache"}),
                              json_values, max_size=5),
       keys=st.lists(st.text(min_size=1, max_size=10), max_size=3), cache=st.sampled_from([None, "hit", "miss"]),
       duration=st.floats(min_value=0, max_value=1e9), step=st.text(min_size=1, max_size=20))
def test_ok_lines_are_json_dumps_text(extras, keys, cache, duration, step):
    result = StepResult(step, STATUS_OK, delta=[Write(key, 1, "w") for key in keys], extras=extras,
                        metrics={"duration_ms": duration}, cache=cache)
    line = result.json_line()
    assert line == reference(result)
    assert json.loads(line)["step"] == step


@settings(max_examples=100, deadline=None)
@given(details=st.dictionaries(st.text(max_size=8), json_values, max_size=4), reason=st.text())
def test_error_lines_are_json_dumps_text(details, reason):
    result = StepResult("s", STATUS_ERROR, error={"status": "error", "reason": reason, "details": details,
                                                  "exit_code": 1, "step": "s"})
    assert result.json_line() == reference(result)


@settings(max_examples=500, deadline=None)
@given(keys=st.lists(st.text(min_size=1, max_size=10), max_size=4), step=st.text(min_size=1, max_size=20),
       duration=st.floats() | st.integers() | st.booleans() | st.none())
def test_the_usual_line_put_together_from_its_parts_is_json_dumps_text(keys, step, duration):
    """A step that succeeded with no extras and no cache answer: its line is built without a dict
    (any float, including -0.0, the tiniest and the largest; other types take the encoder)."""
    metrics = {} if duration is None else {"duration_ms": duration}
    result = StepResult(step, STATUS_OK, delta=[Write(key, 1, "w") for key in keys], metrics=metrics)
    assert result.json_line() == reference(result)
