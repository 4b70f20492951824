"""Each recipe of recipes/ end to end: its keys, artifacts and JSON lines (guide §10, §19).

Most run in-process (``run_curriculum``); the ones whose point is the command line (exit
codes, --skip, --resume-from, the full pipeline) run through the real ``orch`` command, which
needs this pack installed (``pip install -e plugins/orchestrator_curriculum``).
"""

from __future__ import annotations

import json
import re
import statistics

import pytest

RECIPE_NAMES = ["example_numbers", "01_basic_number", "03_validation_errors", "04_artifacts_pipeline",
                "05_metrics_versioned", "06_parallel_fan_in", "07_cpu_process", "08_versioning_wrapper",
                "10_reporting", "11_resilience_controls", "12_advanced_full"]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def normalized(values):
    low, high = min(values), max(values)
    return [(v - low) / (high - low) for v in values]


def outputs(lines):
    return [(line.get("step"), line.get("outputs")) for line in lines]


def test_the_pack_ships_every_recipe_with_a_description(orch_cli):
    listed = {entry["name"]: entry for entry in json.loads(orch_cli("recipes", "list", "--json").assert_success().out)}
    for name in RECIPE_NAMES:
        assert listed[name]["pack"] == "curriculum"
        assert listed[name]["description"]
    report = json.loads(orch_cli("validate", *RECIPE_NAMES, "--json").assert_success().out)
    assert [entry["ok"] for entry in report] == [True] * len(RECIPE_NAMES)
    assert [entry["warnings"] for entry in report] == [[]] * len(RECIPE_NAMES), "every step declares its outputs"


def test_example_numbers(orch_cli, sample_values):
    outcome = orch_cli("run", "example_numbers").assert_success()
    assert outputs(outcome.lines) == [("compute_numbers", ["numbers.stats_v1"])]
    assert outcome.lines[0]["status"] == "ok" and "duration_ms" in outcome.lines[0]["metrics"]


def test_example_numbers_values(run_curriculum, sample_values):
    stats = run_curriculum("example_numbers").context["numbers.stats_v1"]
    assert stats == {"count": 18, "sum": sum(sample_values), "min": 8.0, "max": 9973.0,
                     "mean": pytest.approx(statistics.mean(sample_values)),
                     "std": pytest.approx(statistics.stdev(sample_values))}


def test_01_basic_number(run_curriculum, sample_values):
    outcome = run_curriculum("01_basic_number")
    assert outcome.error is None
    assert outputs(outcome.lines) == [("load_numbers", ["numbers.raw_v1"])]
    raw = outcome.context["numbers.raw_v1"]
    assert (raw["values"], raw["skipped"], raw["source"]) == (sample_values, 6, "sample:numbers.csv")


def test_01_failure_mode_a_missing_file_is_an_error_line(curriculum_pm, run_orch_recipe):
    outcome = run_orch_recipe("""
        name: missing
        steps:
          - {name: load_numbers, uses: load_numbers, params: {path: Data/missing.csv}}
    """)
    (line,) = outcome.lines
    assert (line["status"], line["reason"], line["details"], line["step"]) == (
        "error", "Numbers file not found: Data/missing.csv", {"path": "Data/missing.csv"}, "load_numbers")


def test_orch_validate_checks_params_at_their_line(orch_cli, tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "steps:\n  - name: load_numbers\n    uses: load_numbers\n"
        "  - name: validate_numbers\n    uses: validate_numbers\n    params:\n      min_count: five\n")
    outcome = orch_cli("validate", "bad.yaml", "--json")
    assert outcome.exit_code == 2
    (problem,) = json.loads(outcome.out)[0]["problems"]
    assert problem["line"] == 7 and "min_count" in problem["message"]


def test_03_validation_errors_fails_with_the_guides_error(orch_cli):
    outcome = orch_cli("run", "03_validation_errors")
    assert outcome.exit_code == 1
    assert outputs(outcome.lines[:1]) == [("load_numbers", ["numbers.raw_v1"])]
    error = outcome.lines[1]
    assert set(error) == {"status", "reason", "details", "exit_code", "step", "ts"}
    assert (error["status"], error["reason"], error["details"], error["exit_code"], error["step"]) == (
        "error", "Too few numbers (min=5)", {"count": 3}, 1, "validate_numbers")
    assert TIMESTAMP.match(error["ts"])
    assert len(outcome.lines) == 2  # normalize_numbers never ran


def test_03_in_process_stops_before_normalize(run_curriculum):
    outcome = run_curriculum("03_validation_errors")
    assert isinstance(outcome.error, RuntimeError)  # the guide's §19: failures raise RuntimeError
    assert outcome.result.not_run == ["normalize_numbers"]
    assert "numbers.validated_v1" not in outcome.context and "numbers.normalized_v1" not in outcome.context


def test_04_artifacts_pipeline(run_curriculum, tmp_path, sample_values):
    outcome = run_curriculum("04_artifacts_pipeline")
    assert outcome.error is None
    assert outputs(outcome.lines) == [("load_numbers", ["numbers.raw_v1"]),
                                      ("validate_numbers", ["numbers.validated_v1"]),
                                      ("normalize_numbers", ["numbers.normalized_v1", "numbers.stats_v1"])]
    assert outcome.lines[2]["artifact"] == "Data/normalized.json"
    document = json.loads((tmp_path / "Data" / "normalized.json").read_text())
    assert document["columns"]["value"]["values"] == outcome.context["numbers.normalized_v1"]
    assert outcome.context["numbers.normalized_v1"] == pytest.approx(normalized(sample_values))
    assert outcome.context["numbers.stats_v1"]["max"] == 9973.0
    assert outcome.context["numbers.validated_v1"]["count"] == 18


def test_05_metrics_versioned(run_curriculum, sample_values):
    outcome = run_curriculum("05_metrics_versioned")
    assert outcome.error is None
    assert outcome.lines[-1]["outputs"] == ["metrics.summary_v1", "metrics.columns_v1"]
    summary = outcome.context["metrics.summary_v1"]
    assert summary["mean"] == pytest.approx(statistics.mean(sample_values))
    assert summary["std"] == pytest.approx(statistics.stdev(sample_values))
    assert set(outcome.context["metrics.columns_v1"]) == {"value", "weight", "score"}
    assert outcome.context["metrics.columns_v1"]["value"] == summary


def test_06_parallel_fan_in_aggregate_equals_the_three_metrics(run_curriculum, sample_values):
    outcome = run_curriculum("06_parallel_fan_in", config={"workers": 3})
    assert outcome.error is None
    assert [line["step"] for line in outcome.lines] == [
        "load_numbers", "normalize_numbers", "compute_mean", "compute_median", "compute_std", "aggregate_metrics"]
    context = outcome.context
    assert context["metrics.aggregate_v1"] == {"mean": context["metrics.mean_v1"],
                                               "median": context["metrics.median_v1"],
                                               "std": context["metrics.std_v1"]}
    scaled = normalized(sample_values)
    assert context["metrics.mean_v1"] == pytest.approx(statistics.mean(scaled))
    assert context["metrics.median_v1"] == pytest.approx(statistics.median(scaled))
    assert context["metrics.std_v1"] == pytest.approx(statistics.stdev(scaled))
    assert {outcome.result.steps[name].executor for name in ("compute_mean", "compute_median", "compute_std")} == {
        "thread"}


def test_06_through_the_command(orch_cli):
    outcome = orch_cli("run", "06_parallel_fan_in", "--workers", "3").assert_success()
    assert outcome.lines[-1]["outputs"] == ["metrics.aggregate_v1"]
    assert "6 ok, 0 failed" in outcome.err


def is_prime(n):
    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def test_07_cpu_process(run_curriculum, sample_values):
    outcome = run_curriculum("07_cpu_process")
    assert outcome.error is None
    assert outputs(outcome.lines)[-1] == ("prime_factor_analysis", ["numbers.prime_factors_v1"])
    value = outcome.context["numbers.prime_factors_v1"]
    for number, factors in value["factors"].items():
        product = 1
        for factor in factors:
            product *= factor
        assert product == int(number) or (int(number) < 2 and factors == [])
    integers = sorted({int(v) for v in sample_values})
    assert list(value["factors"]) == [str(n) for n in integers]
    assert value["primes"] == [n for n in integers if is_prime(n)] == [47, 97, 9973]
    assert value["largest_prime_factor"] == 9973
    assert value["extra"]["count"] == value["extra"]["done"] == 3000


def test_08_versioning_wrapper_keeps_v1(run_curriculum):
    outcome = run_curriculum("08_versioning_wrapper")
    assert outcome.error is None  # merge: fail_on_conflict, so v2 wrote exactly v1's summary_v1
    v1, v2 = outcome.context["metrics.summary_v1"], outcome.context["metrics.summary_v2"]
    assert {key: v2[key] for key in v1} == v1
    assert set(v2) - set(v1) == {"median", "variance", "range", "q1", "q3"}
    assert outputs(outcome.lines)[1:] == [("compute_metrics_v1", ["metrics.summary_v1", "metrics.columns_v1"]),
                                          ("compute_metrics_v2", ["metrics.summary_v1", "metrics.summary_v2"])]


def test_11_resilience_controls(orch_cli):
    failed = orch_cli("run", "11_resilience_controls")
    assert failed.exit_code == 1
    assert [line["step"] for line in failed.lines] == ["load_numbers", "normalize_numbers", "inject_failure"]
    assert (failed.lines[-1]["status"], failed.lines[-1]["reason"]) == ("error", "Injected failure")

    skipped = orch_cli("run", "11_resilience_controls", "--skip", "inject_failure").assert_success()
    assert outputs(skipped.lines) == [
        ("load_numbers", ["numbers.raw_v1"]),
        ("normalize_numbers", ["numbers.normalized_v1", "numbers.stats_v1"]),
        ("compute_metrics_v2", ["metrics.summary_v1", "metrics.summary_v2"]),
        ("cleanup_intermediate", ["cleanup.removed_v1"]),
    ]
    assert skipped.lines[-1]["removed"] == ["Data/normalized.json"]

    resumed = orch_cli("run", "11_resilience_controls", "--resume-from", "compute_metrics_v2").assert_success()
    assert [line["step"] for line in resumed.lines] == ["compute_metrics_v2", "cleanup_intermediate"]
    assert resumed.lines[-1]["removed"] == []  # nothing left to remove: cleanup is idempotent


def test_12_advanced_full(orch_cli, tmp_path):
    first = orch_cli("run", "12_advanced_full").assert_success()
    # The guide's §10.4 excerpt; generate_report also names the workbook (guide §15).
    assert [line["outputs"] for line in first.lines] == [
        ["cache.numbers_hash_v1", "cache.numbers_hit_v1"],
        ["numbers.raw_v1"],
        ["numbers.normalized_v1", "numbers.stats_v1"],
        ["metrics.summary_v1", "metrics.summary_v2"],
        ["metrics.mean_v1"],
        ["metrics.median_v1"],
        ["metrics.std_v1"],
        ["metrics.aggregate_v1"],
        ["numbers.prime_factors_v1"],
        ["resource.audit_v1"],
        ["report.path_v1", "report.excel_path_v1"],
        ["cleanup.removed_v1"],
    ]
    assert first.lines[2]["artifact"] == "Data/normalized.json"
    assert first.lines[10]["artifact"] == "Data/report.md"
    assert first.lines[-1]["removed"] == ["Data/normalized.json"]
    assert not (tmp_path / "Data" / "normalized.json").exists()
    assert first.lines[0]["cache"] == "miss"
    assert json.loads((tmp_path / ".cache" / "numbers.done").read_text())["step"] == "cache_numbers"  # cache_key: numbers


def test_12_in_process_keys(run_curriculum):
    first = run_curriculum("12_advanced_full")
    assert first.error is None
    context = first.context
    assert context["cache.numbers_hit_v1"] is False and len(context["cache.numbers_hash_v1"]) == 64
    audit = context["resource.audit_v1"]
    assert audit["steps"] == 9 and audit["ok"] == 9 and audit["failed"] == []
    assert audit["slowest_step"] == "prime_factor_analysis"
    assert audit["total_duration_ms"] >= audit["max_duration_ms"] > 0
    assert audit["executors"]["thread"] >= 3
    assert context["metrics.aggregate_v1"]["mean"] == context["metrics.mean_v1"]
    assert context["cleanup.removed_v1"] == ["Data/normalized.json"]
    second = run_curriculum("12_advanced_full")
    # Same numbers, same working directory: the step is served from the cache and says so.
    assert second.context["cache.numbers_hit_v1"] is True and second.lines[0]["cache"] == "hit"
    assert second.context["cache.numbers_hash_v1"] == context["cache.numbers_hash_v1"]
