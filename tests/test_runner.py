"""The runner: plan, fan-in, selection, failures, retries, timeouts, parallelism, metrics."""

from __future__ import annotations

import random

import pytest

from orchestrator_core import StepFailedError, hookimpl, run_recipe
from orchestrator_core.run.engine import METRICS_KEY, backoff_delay
from orchestrator_core.errors import UsageError

import orch_sample

FAN_IN = """
merge: {keys: {t.shared_v1: last_write_wins}}
steps:
  - name: root
    uses: write_keys
    params: {values: {t.a_v1: 1}}
  - name: left
    uses: write_keys
    depends_on: [root]
    params: {sleep: %(left)s, values: {t.b_v1: 10, t.shared_v1: left}}
  - name: right
    uses: write_keys
    depends_on: [root]
    params: {sleep: %(right)s, values: {t.c_v1: 100, t.shared_v1: right}}
  - name: total
    uses: sum_keys
    depends_on: [left, right]
    params: {keys: [t.a_v1, t.b_v1, t.c_v1]}
"""


@pytest.mark.parametrize("left,right", [(0.2, 0), (0, 0.2)])
def test_fan_in_is_deterministic_whatever_finishes_first(sample_pm, run_orch_recipe, left, right):
    outcome = run_orch_recipe(FAN_IN % {"left": left, "right": right})
    assert outcome.error is None
    context = outcome.context
    assert context["t.sum_v1"] == 111
    assert context["t.shared_v1"] == "right", "the step later in the recipe wins, however the race went"
    assert [line["step"] for line in outcome.lines] == ["root", "left", "right", "total"]
    assert outcome.lines[3]["outputs"] == ["t.sum_v1"]


def test_parallel_steps_run_together_up_to_workers(sample_pm, run_orch_recipe):
    recipe = """
    steps:
      - {name: a, uses: write_keys, depends_on: [], params: {barrier: ab, parties: 2, values: {t.a_v1: 1}}}
      - {name: b, uses: write_keys, depends_on: [], params: {barrier: ab, parties: 2, values: {t.b_v1: 2}}}
    """
    outcome = run_orch_recipe(recipe, config={"workers": 2})
    assert outcome.error is None, outcome.lines
    assert outcome.result.context[METRICS_KEY]["a"]["executor"] == "thread"


def test_non_parallelizable_steps_run_alone(sample_pm, run_orch_recipe):
    orch_sample._barriers.pop("solo", None)
    recipe = """
    steps:
      - {name: a, uses: write_keys, parallelizable: false, depends_on: [], params: {barrier: solo, parties: 2}}
      - {name: b, uses: fail, depends_on: [], params: {reason: should not start}}
    """
    orch_sample._barriers["solo"] = __import__("threading").Barrier(2, timeout=0.3)
    outcome = run_orch_recipe(recipe, config={"workers": 4})
    assert outcome.lines[0]["reason"] == "barrier broken: steps did not run together"
    assert len(outcome.lines) == 1, "the first failure stops scheduling: b never started"


def test_first_failure_stops_and_keep_going_runs_the_independent(sample_pm, run_orch_recipe):
    recipe = """
    steps:
      - {name: a, uses: write_keys, params: {values: {t.a_v1: 1}}}
      - {name: boom, uses: fail, params: {reason: Too few numbers (min=5), details: {count: 3}}}
      - {name: after, uses: write_keys, params: {values: {t.b_v1: 2}}}
      - {name: independent, uses: write_keys, depends_on: [a], params: {values: {t.c_v1: 3}}}
    """
    stopped = run_orch_recipe(recipe)
    assert isinstance(stopped.error, StepFailedError) and isinstance(stopped.error, RuntimeError)
    assert [line["status"] for line in stopped.lines] == ["ok", "error"]
    error = stopped.lines[1]
    assert error["reason"] == "Too few numbers (min=5)" and error["details"] == {"count": 3}
    assert error["exit_code"] == 1 and error["step"] == "boom" and error["ts"].endswith("Z")
    assert stopped.result.not_run == ["after", "independent"]

    going = run_orch_recipe(recipe, config={"keep_going": True})
    assert [line["step"] for line in going.lines] == ["a", "boom", "independent"]
    assert going.result.not_run == ["after"] and going.context["t.c_v1"] == 3


def test_unexpected_exception_is_structured(sample_pm, run_orch_recipe):
    outcome = run_orch_recipe("steps: [{name: c, uses: crash}]")
    line = outcome.lines[0]
    assert line["status"] == "error" and line["reason"] == "'missing'"
    assert line["details"]["type"] == "KeyError" and "orch_sample" in line["details"]["where"]


def test_undeclared_write_and_non_json_value_fail_the_step(sample_pm, run_orch_recipe):
    outcome = run_orch_recipe("""
    merge: {keys: {t.a_v1: last_write_wins}}
    steps:
      - {name: u, uses: undeclared}
      - {name: n, uses: not_json, depends_on: []}
    """, config={"keep_going": True})
    assert "undeclared key 't.not_declared_v1'" in outcome.lines[0]["reason"]
    assert "not JSON-safe" in outcome.lines[1]["reason"] and "'n'" in outcome.lines[1]["reason"]
    assert "t.not_declared_v1" not in outcome.context


def test_skip_only_and_resume_from_select_steps(sample_pm, run_orch_recipe):
    recipe = """
    steps:
      - {name: one, uses: write_keys, params: {values: {t.a_v1: 1}}}
      - {name: two, uses: fail}
      - {name: three, uses: write_keys, params: {values: {t.b_v1: 2}}}
      - {name: four, uses: write_keys, params: {values: {t.c_v1: 3}}}
    """
    steps_of = lambda outcome: [line["step"] for line in outcome.lines]  # noqa: E731
    assert steps_of(run_orch_recipe(recipe, skip=["two"])) == ["one", "three", "four"]
    assert steps_of(run_orch_recipe(recipe, only=["one", "four"])) == ["one", "four"]
    assert steps_of(run_orch_recipe(recipe, only=["one,four"])) == ["one", "four"]
    assert steps_of(run_orch_recipe(recipe, resume_from="three")) == ["three", "four"]
    with pytest.raises(UsageError, match="no step named 'thre'.*did you mean 'three'"):
        run_orch_recipe(recipe, resume_from="thre")
    with pytest.raises(UsageError, match=r"--skip: no step named 'zz' in the recipe \(its steps: one, two, three, four\)"):
        run_orch_recipe(recipe, skip=["zz"])


def test_timeout_fails_the_step_with_exit_code_124(sample_pm, run_orch_recipe):
    outcome = run_orch_recipe("steps: [{name: nap, uses: sleepy, timeout: 0.2, params: {seconds: 30}}]")
    line = outcome.lines[0]
    assert line["status"] == "error" and line["reason"] == "step timed out after 0.2 s"
    assert line["exit_code"] == 124 and line["details"] == {"timeout_s": 0.2}


def test_retries_until_success(sample_pm, run_orch_recipe):
    outcome = run_orch_recipe("""
    steps: [{name: f, uses: flaky, retries: 2, retry_delay: 0.01, params: {fail_times: 2}}]
    """)
    assert outcome.error is None
    assert outcome.context["t.flaky_v1"] == 3
    assert outcome.context[METRICS_KEY]["f"]["attempts"] == 3


def test_retries_exhausted(sample_pm, run_orch_recipe):
    outcome = run_orch_recipe("""
    steps: [{name: f, uses: flaky, retries: 1, retry_delay: 0.01, params: {fail_times: 5}}]
    """)
    assert outcome.lines[0]["reason"] == "attempt 2 fails"


def test_backoff_is_exponential_with_jitter():
    rng = random.Random(7)
    delays = [[backoff_delay(0.5, attempt, rng) for _ in range(200)] for attempt in (1, 2, 3)]
    for attempt, samples in zip((1, 2, 3), delays):
        nominal = 0.5 * 2 ** (attempt - 1)
        assert nominal * 0.5 <= min(samples) and max(samples) <= nominal * 1.5
        assert max(samples) - min(samples) > nominal * 0.5, "jitter spreads the retries"


def test_metrics_are_recorded_per_step(sample_pm, run_orch_recipe):
    outcome = run_orch_recipe("steps: [{name: a, uses: noop}, {name: b, uses: noop}]")
    metrics = outcome.context[METRICS_KEY]
    assert set(metrics) == {"a", "b"}
    for figures in metrics.values():
        assert figures["duration_ms"] >= 0 and figures["cpu_ms"] >= 0 and figures["peak_rss_kb"] > 0
        assert figures["status"] == "ok" and figures["executor"] == "inline"
    assert outcome.lines[0]["metrics"]["duration_ms"] == metrics["a"]["duration_ms"]


def test_metrics_list_steps_in_plan_order_whatever_finished_first(sample_pm, register_plugin, run_orch_recipe):
    class Finished:
        order: list[str] = []

        @hookimpl
        def orch_after_step(self, step):
            self.order.append(step.name)

    finished = register_plugin(Finished(), "finished")
    outcome = run_orch_recipe("""
        steps:
          - {name: first, uses: noop}
          - {name: slow, uses: sleepy, params: {seconds: 0.3}, parallelizable: true, depends_on: [first]}
          - {name: quick, uses: noop, parallelizable: true, depends_on: [first]}
          - {name: last, uses: noop, depends_on: [slow, quick]}
    """, config={"executor": "thread"})
    assert finished.order == ["first", "quick", "slow", "last"]  # quick finished before slow
    assert list(outcome.context[METRICS_KEY]) == ["first", "slow", "quick", "last"]  # plan order


def test_run_recipe_api_returns_result_and_raises_runtime_error(sample_pm, tmp_path, capsys):
    ok = tmp_path / "ok.yaml"
    ok.write_text("steps: [{name: a, uses: write_keys, params: {values: {t.a_v1: 5}}}]")
    result = run_recipe(ok, plugins=[orch_sample], load_entrypoints=False, workdir=tmp_path)
    assert result.ok and result.context["t.a_v1"] == 5
    assert capsys.readouterr().out.splitlines() == ['{"status":"ok","outputs":["t.a_v1"],"step":"a","metrics":'
                                                    f'{{"duration_ms":{result.steps["a"].metrics["duration_ms"]}}}}}']
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [{name: a, uses: fail}]")
    with pytest.raises(RuntimeError, match="step 'a' failed: failed on purpose"):
        run_recipe(bad, plugins=[orch_sample], load_entrypoints=False, workdir=tmp_path)


def test_initial_context_from_recipe_and_caller(sample_pm, run_orch_recipe):
    outcome = run_orch_recipe("""
    context: {t.a_v1: 1, t.b_v1: 2}
    steps: [{name: s, uses: sum_keys, params: {keys: [t.a_v1, t.b_v1]}}]
    """, context={"t.b_v1": 40})
    assert outcome.context["t.sum_v1"] == 41


def test_stdout_of_steps_goes_to_stderr(sample_pm, run_orch_recipe, capsys):
    outcome = run_orch_recipe("steps: [{name: c, uses: chatty}]")
    assert outcome.lines == [{"status": "ok", "outputs": ["t.a_v1"], "artifact": "Data/hello.txt", "step": "c",
                              "metrics": outcome.lines[0]["metrics"]}]
    assert "hello from a step" in capsys.readouterr().err
