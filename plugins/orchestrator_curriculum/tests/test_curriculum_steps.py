"""Each scriptlet alone: the keys of the guide's §8 table, bad params, failures and the success path.

Expected values come from a straightforward computation (the ``statistics`` module, a hand-
written list) rather than from the pack's own helpers.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import pytest

from orchestrator_core.scriptlet.base import discover_scriptlets
from orchestrator_curriculum.steps.aggregate_metrics import AggregateMetrics
from orchestrator_curriculum.steps.cache_numbers import CacheNumbers
from orchestrator_curriculum.steps.cleanup_intermediate import CleanupIntermediate
from orchestrator_curriculum.steps.compute_mean import ComputeMean
from orchestrator_curriculum.steps.compute_median import ComputeMedian
from orchestrator_curriculum.steps.compute_metrics_v1 import ComputeMetricsV1
from orchestrator_curriculum.steps.compute_metrics_v2 import ComputeMetricsV2
from orchestrator_curriculum.steps.compute_numbers import ComputeNumbers
from orchestrator_curriculum.steps.compute_std import ComputeStd
from orchestrator_curriculum.steps.inject_failure import InjectFailure
from orchestrator_curriculum.steps.load_numbers import LoadNumbers
from orchestrator_curriculum.steps.normalize_numbers import NormalizeNumbers
from orchestrator_curriculum.steps.prime_factor_analysis import PrimeFactorAnalysis
from orchestrator_curriculum.steps.resource_audit import ResourceAudit
from orchestrator_curriculum.steps.validate_numbers import ValidateNumbers

# The guide's §8 inventory: scriptlet → the keys it produces.
INVENTORY = {
    "compute_numbers": ("numbers.stats_v1",),
    "load_numbers": ("numbers.raw_v1",),
    "validate_numbers": ("numbers.validated_v1",),
    "normalize_numbers": ("numbers.normalized_v1", "numbers.stats_v1"),
    "compute_metrics_v1": ("metrics.summary_v1", "metrics.columns_v1"),
    "compute_metrics_v2": ("metrics.summary_v1", "metrics.summary_v2"),
    "compute_mean": ("metrics.mean_v1",),
    "compute_median": ("metrics.median_v1",),
    "compute_std": ("metrics.std_v1",),
    "aggregate_metrics": ("metrics.aggregate_v1",),
    "prime_factor_analysis": ("numbers.prime_factors_v1",),
    "inject_failure": ("resilience.inject_ok_v1",),
    "cache_numbers": ("cache.numbers_hash_v1", "cache.numbers_hit_v1"),
    "resource_audit": ("resource.audit_v1",),
    "cleanup_intermediate": ("cleanup.removed_v1",),
    "generate_report": ("report.path_v1", "report.excel_path_v1"),
    "start_context_server_v2": ("context_server.url_v1", "context_server.status_v1"),
    "demo_update_state": ("demo_update_state.ack_v1",),
    "publish_stats": ("publish_stats.ack_v1",),
}
ALL = discover_scriptlets("orchestrator_curriculum.steps")


def normalized(values):
    low, high = min(values), max(values)
    return [(v - low) / (high - low) for v in values]


def test_every_scriptlet_declares_the_keys_of_the_guide():
    assert {cls.name: tuple(cls.outputs) for cls in ALL} == INVENTORY
    assert {cls.name for cls in ALL if cls.parallelizable} == {"compute_mean", "compute_median", "compute_std"}
    assert [cls.name for cls in ALL if cls.requires_process] == ["prime_factor_analysis"]
    assert all(cls.__doc__ and sys.modules[cls.__module__].__doc__ for cls in ALL)


def test_the_plugin_registers_every_scriptlet_module_lazily_under_its_own_name():
    from orchestrator_curriculum import plugin

    registered = plugin.orch_register_scriptlets()
    assert {entry.name for entry in registered} == {cls.name for cls in ALL}, "steps/ and plugin.SCRIPTLETS differ"
    assert {entry.load() for entry in registered} == set(ALL)


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.name)
def test_an_unknown_param_fails_before_any_work(run_step, cls, tmp_path):
    result = run_step(cls, {"bogus": 1})
    assert result.status == "error"
    assert result.error["reason"] == "Unknown param 'bogus'"
    assert result.error["details"]["unknown"] == ["bogus"]
    assert result.delta == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cls, params, name", [
    (ComputeNumbers, {"numbers": []}, "numbers"),
    (ComputeNumbers, {"numbers": [1, "two"]}, "numbers.1"),
    (LoadNumbers, {"sample": 3}, "sample"),
    (LoadNumbers, {"columns": []}, "columns"),
    (ValidateNumbers, {"min_count": "five"}, "min_count"),
    (ValidateNumbers, {"min_count": -1}, "min_count"),
    (PrimeFactorAnalysis, {"extra_numbers": -5}, "extra_numbers"),
    (InjectFailure, {"fail": "no"}, "fail"),
    (CacheNumbers, {"sample": 3}, "sample"),
    (CleanupIntermediate, {"files": "normalized.json"}, "files"),
])
def test_a_bad_param_is_named(run_step, cls, params, name):
    result = run_step(cls, params)
    assert result.status == "error"
    assert result.error["reason"].startswith(f"Bad param {name!r}: ")
    assert result.error["details"]["param"] == name


def test_compute_numbers(run_step, written, sample_values):
    result = run_step(ComputeNumbers, {"numbers": [2, 4, 4, 4, 5, 5, 7, 9]})
    assert result.ok, result.error
    assert written(result) == {"numbers.stats_v1": {
        "count": 8, "sum": 40.0, "min": 2.0, "max": 9.0, "mean": 5.0,
        "std": pytest.approx(statistics.stdev([2, 4, 4, 4, 5, 5, 7, 9]))}}
    by_default = written(run_step(ComputeNumbers))["numbers.stats_v1"]
    assert by_default["count"] == 18 and by_default["mean"] == pytest.approx(statistics.mean(sample_values))


def test_load_numbers_reads_the_sample(run_step, written, sample_values):
    raw = written(run_step(LoadNumbers))["numbers.raw_v1"]
    assert raw["source"] == "sample:numbers.csv"
    assert raw["column"] == "value" and raw["values"] == sample_values
    assert raw["columns"] == ["value", "weight", "score"] and raw["data"]["value"] == sample_values
    assert len(raw["data"]["weight"]) == raw["count"] == 18
    assert raw["skipped"] == len(raw["skipped_rows"]) == 6


def test_load_numbers_reads_a_path_and_a_chosen_column(run_step, written, tmp_path):
    (tmp_path / "mine.csv").write_text("a,b\n1,10\n2,20\n3,x\n")
    raw = written(run_step(LoadNumbers, {"path": "mine.csv", "column": "b"}))["numbers.raw_v1"]
    assert (raw["source"], raw["values"], raw["data"]["a"], raw["skipped"]) == ("mine.csv", [10.0, 20.0], [1.0, 2.0], 1)
    only_b = written(run_step(LoadNumbers, {"path": "mine.csv", "columns": ["b"]}))["numbers.raw_v1"]
    assert only_b["columns"] == ["b"] and only_b["skipped"] == 1


def test_load_numbers_missing_file_names_the_path(run_step):
    result = run_step(LoadNumbers, {"path": "Data/none.csv"})
    assert result.error["reason"] == "Numbers file not found: Data/none.csv"
    assert result.error["details"] == {"path": "Data/none.csv"}
    assert run_step(LoadNumbers, {"column": "height"}).error["reason"] == "Unknown column 'height' in numbers.csv"


def test_validate_numbers(run_step, written):
    raw = {"numbers.raw_v1": {"values": [1.0, 2.0, 3.0], "column": "value", "source": "x.csv"}}
    result = run_step(ValidateNumbers, {}, raw)
    assert (result.error["reason"], result.error["details"]) == ("Too few numbers (min=5)", {"count": 3})
    assert run_step(ValidateNumbers, {"min_count": 4}, raw).error["reason"] == "Too few numbers (min=4)"
    assert written(run_step(ValidateNumbers, {"min_count": 3}, raw)) == {
        "numbers.validated_v1": {"count": 3, "min_count": 3, "column": "value", "source": "x.csv"}}
    assert written(run_step(ValidateNumbers))["numbers.validated_v1"]["count"] == 18  # the sample


def test_normalize_numbers_writes_keys_and_artifact(run_step, written, tmp_path, sample_values):
    result = run_step(NormalizeNumbers)
    assert result.ok, result.error
    assert result.extras == {"artifact": "Data/normalized.json"}
    keys = written(result)
    assert keys["numbers.normalized_v1"] == pytest.approx(normalized(sample_values))
    assert keys["numbers.stats_v1"]["mean"] == pytest.approx(statistics.mean(sample_values))
    document = json.loads((tmp_path / "Data" / "normalized.json").read_text())
    assert document["method"] == "min_max" and set(document["columns"]) == {"value", "weight", "score"}
    assert document["columns"]["value"]["values"] == keys["numbers.normalized_v1"]
    empty = run_step(NormalizeNumbers, {}, {"numbers.raw_v1": {"values": []}})
    assert (empty.error["reason"], empty.error["details"]) == ("No numbers to normalize", {"count": 0})


def test_compute_metrics_v1(run_step, written):
    data = {"a": [1.0, 2.0, 6.0], "b": [5.0, 5.0, 5.0]}
    keys = written(run_step(ComputeMetricsV1, {}, {"numbers.raw_v1": {"values": data["a"], "data": data}}))
    assert keys["metrics.summary_v1"] == {"count": 3, "mean": 3.0, "min": 1.0, "max": 6.0,
                                          "std": pytest.approx(statistics.stdev(data["a"]))}
    assert keys["metrics.columns_v1"]["b"] == {"count": 3, "mean": 5.0, "min": 5.0, "max": 5.0, "std": 0.0}
    assert keys["metrics.columns_v1"]["a"] == keys["metrics.summary_v1"]


def test_compute_metrics_v2_extends_v1_without_changing_it(run_step, written, sample_values):
    v1 = written(run_step(ComputeMetricsV1))
    v2 = written(run_step(ComputeMetricsV2))
    assert v2["metrics.summary_v1"] == v1["metrics.summary_v1"]
    summary = v2["metrics.summary_v2"]
    assert {k: summary[k] for k in v1["metrics.summary_v1"]} == v1["metrics.summary_v1"]
    assert summary["median"] == statistics.median(sample_values)
    assert summary["variance"] == pytest.approx(statistics.variance(sample_values))
    assert summary["range"] == max(sample_values) - min(sample_values)
    assert summary["q1"] <= summary["median"] <= summary["q3"]


@pytest.mark.parametrize("cls, key, expected", [
    (ComputeMean, "metrics.mean_v1", statistics.mean),
    (ComputeMedian, "metrics.median_v1", statistics.median),
    (ComputeStd, "metrics.std_v1", statistics.stdev),
])
def test_metric_of_the_normalized_numbers(run_step, written, sample_values, cls, key, expected):
    given = [0.0, 0.25, 0.5, 1.0]
    assert written(run_step(cls, {}, {"numbers.normalized_v1": given}))[key] == pytest.approx(expected(given))
    # Run alone, it scales the raw numbers itself, so the value means the same thing.
    assert written(run_step(cls))[key] == pytest.approx(expected(normalized(sample_values)))
    assert run_step(cls, {}, {"numbers.normalized_v1": []}).error["reason"] == "No numbers to work on"


def test_aggregate_metrics(run_step, written):
    metrics = {"metrics.mean_v1": 0.4, "metrics.median_v1": 0.3, "metrics.std_v1": 0.2}
    assert written(run_step(AggregateMetrics, {}, metrics)) == {
        "metrics.aggregate_v1": {"mean": 0.4, "median": 0.3, "std": 0.2}}
    missing = run_step(AggregateMetrics, {}, {"metrics.mean_v1": 0.4})
    assert missing.error["reason"] == "Missing metrics: metrics.median_v1, metrics.std_v1"
    assert missing.error["details"]["missing"] == ["metrics.median_v1", "metrics.std_v1"]


def test_prime_factor_analysis(run_step, written):
    raw = {"numbers.raw_v1": {"values": [84.5, 97.0, -15.9, 1.0, 84.0], "column": "value"}}
    value = written(run_step(PrimeFactorAnalysis, {"extra_numbers": 10, "extra_start": 20}, raw))[
        "numbers.prime_factors_v1"]
    assert value["factors"] == {"1": [], "15": [3, 5], "84": [2, 2, 3, 7], "97": [97]}
    assert value["primes"] == [97] and value["distinct_primes"] == [2, 3, 5, 7, 97]
    assert value["largest_prime_factor"] == 97 and value["count"] == 5 and value["column"] == "value"
    assert value["extra"] == {"start": 20, "count": 10, "done": 10, "primes": 2, "factors": 23}  # 20..29: 23, 29
    too_big = run_step(PrimeFactorAnalysis, {}, {"numbers.raw_v1": {"values": [1e13]}})
    assert too_big.error["reason"] == "Number too large to factorise by trial division"


def test_inject_failure(run_step, written):
    failed = run_step(InjectFailure)
    assert (failed.error["reason"], failed.error["exit_code"], failed.error["details"]["injected"]) == (
        "Injected failure", 1, True)
    assert run_step(InjectFailure, {"reason": "boom"}).error["reason"] == "boom"
    assert written(run_step(InjectFailure, {"fail": False})) == {"resilience.inject_ok_v1": True}


def test_cache_numbers_hashes_its_source_says_it_ran_and_declares_the_file(run_step, written, tmp_path):
    import hashlib

    source = tmp_path / "n.csv"
    source.write_text("v\n1\n2\n")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    for _ in range(2):  # run by hand, nothing is reused: the step always says it ran
        assert written(run_step(CacheNumbers, {"path": "n.csv"})) == {
            "cache.numbers_hash_v1": digest, "cache.numbers_hit_v1": False}
    assert not (tmp_path / ".cache").exists()  # markers are the runner's, not the scriptlet's
    assert CacheNumbers.files({"path": "n.csv"}, tmp_path, tmp_path / "Data") == [source]
    assert CacheNumbers.files({"data_file": "x.csv"}, tmp_path, tmp_path / "Data") == [tmp_path / "Data" / "x.csv"]
    assert CacheNumbers.files({}, tmp_path, tmp_path / "Data")[0].name == "numbers.csv"
    assert run_step(CacheNumbers, {"path": "gone.csv"}).error["reason"] == "Numbers file not found: gone.csv"


def test_resource_audit(run_step, written):
    metrics = {
        "a": {"duration_ms": 10.0, "cpu_ms": 8.0, "peak_rss_kb": 1000, "executor": "inline", "status": "ok"},
        "b": {"duration_ms": 30.5, "cpu_ms": 1.0, "peak_rss_kb": 900, "executor": "thread", "status": "ok"},
        "h": {"duration_ms": 0.5, "executor": None, "status": "ok", "cache": "hit"},
        "c": {"duration_ms": 2.0, "executor": "thread", "status": "error"},
    }
    assert written(run_step(ResourceAudit, {}, {"_runner.step_metrics_v1": metrics})) == {"resource.audit_v1": {
        "steps": 4, "ok": 3, "failed": ["c"], "total_duration_ms": 43.0, "max_duration_ms": 30.5,
        "slowest_step": "b", "total_cpu_ms": 9.0, "peak_rss_kb": 1000, "peak_rss_step": "a",
        "executors": {"inline": 1, "thread": 2}, "cache_hits": 1}}
    alone = written(run_step(ResourceAudit))["resource.audit_v1"]
    assert (alone["steps"], alone["slowest_step"], alone["total_duration_ms"]) == (0, None, 0.0)


def test_cleanup_intermediate_is_idempotent(run_step, written, tmp_path):
    data = tmp_path / "Data"
    data.mkdir()
    for name in ("normalized.json", "numbers_enriched.csv", "keep.csv"):
        (data / name).write_text("x")
    first = run_step(CleanupIntermediate)
    assert first.extras == {"removed": ["Data/normalized.json", "Data/numbers_enriched.csv"]}
    assert written(first) == {"cleanup.removed_v1": ["Data/normalized.json", "Data/numbers_enriched.csv"]}
    assert sorted(p.name for p in data.iterdir()) == ["keep.csv"]
    second = run_step(CleanupIntermediate)
    assert second.extras == {"removed": []} and written(second) == {"cleanup.removed_v1": []}
    escape = run_step(CleanupIntermediate, {"files": ["../keep.csv"]})
    assert escape.error["reason"] == "Cleanup only removes files under the data directory"


def test_every_scriptlet_runs_with_python_dash_m(tmp_path):
    """``python -m orchestrator_curriculum.steps.NAME --params '{}'``: one JSON line each."""
    env = {**os.environ, "ORCH_LOG_LEVEL": "ERROR"}
    running = {}
    for cls in ALL:
        (tmp_path / cls.name).mkdir()
        running[cls.name] = subprocess.Popen(
            [sys.executable, "-m", cls.__module__, "--params", "{}"], cwd=tmp_path / cls.name, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # no metrics to join; fails by design; no run to serve, no server to talk to (alone)
    expected_failures = {"aggregate_metrics", "inject_failure", "start_context_server_v2", "demo_update_state",
                         "publish_stats"}
    for name, process in running.items():
        out, err = process.communicate(timeout=60)
        lines = out.splitlines()
        assert len(lines) == 1, (name, out, err)
        line = json.loads(lines[0])
        assert line["step"] == name
        assert (process.returncode, line["status"]) == ((1, "error") if name in expected_failures else (0, "ok")), err
        if line["status"] == "ok":
            assert line["outputs"] and set(line["outputs"]) <= set(INVENTORY[name])
