"""generate_report and Module 10 (guide §8, §15, §10.3): the report's numbers, the workbook, the recipes.

The expected numbers come from reading the packaged CSV with the ``csv`` module and the
``statistics`` module, not from the pack's own helpers.
"""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import pytest
from openpyxl import load_workbook

from orchestrator_curriculum.steps.generate_report import GenerateReport

CSV = Path(__file__).resolve().parents[1] / "orchestrator_curriculum" / "data" / "numbers.csv"


def csv_values() -> list[float]:
    """The ``value`` column of the packaged CSV: rows whose cells all read as finite numbers."""
    with CSV.open(newline="") as handle:
        rows = [[cell.strip() for cell in row] for row in csv.reader(handle)]
    header = rows[0]
    values = []
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        try:
            numbers = [float(cell) for cell in row]
        except ValueError:
            continue
        if all(math.isfinite(n) for n in numbers):
            values.append(numbers[header.index("value")])
    return values


def section(markdown: str, heading: str) -> str:
    return markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def table(markdown: str, heading: str) -> dict[str, str]:
    """First column → second column of the table under ``## heading``."""
    rows = [line for line in section(markdown, heading).splitlines() if line.startswith("| ")]
    return {cells[0]: cells[1] for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows[1:])}


@pytest.fixture
def reporting_run(run_curriculum, tmp_path):
    outcome = run_curriculum("10_reporting")
    assert outcome.error is None, outcome.lines
    return outcome, tmp_path


def test_the_report_has_the_right_numbers(reporting_run, sample_values):
    outcome, workdir = reporting_run
    values = csv_values()
    assert values == sample_values  # the straightforward reading agrees with the hand-written list
    text = (workdir / "Data" / "report.md").read_text()
    assert text.startswith(f"# Numbers report\n\nRun `{outcome.result.run_id}`, generated ")
    assert "Source: `sample:numbers.csv`, column `value`: 18 numbers (6 rows skipped)." in text
    summary = table(text, "Summary")
    assert summary["count"] == "18"
    expected = {"mean": statistics.mean(values), "median": statistics.median(values),
                "std": statistics.stdev(values), "min": min(values), "max": max(values),
                "variance": statistics.variance(values), "range": max(values) - min(values)}
    for name, value in expected.items():
        assert float(summary[name]) == pytest.approx(value, abs=5e-5), name
    scaled = [(v - min(values)) / (max(values) - min(values)) for v in values]
    normalized = table(text, "Normalized metrics")
    assert float(normalized["mean"]) == pytest.approx(statistics.mean(scaled), abs=5e-5)
    assert float(normalized["median"]) == pytest.approx(statistics.median(scaled), abs=5e-5)
    assert float(normalized["std"]) == pytest.approx(statistics.stdev(scaled), abs=5e-5)
    steps = [line.split("|")[1].strip() for line in section(text, "Resources").splitlines()
             if line.startswith("| ")][1:]
    assert steps == ["load_numbers", "normalize_numbers", "compute_metrics_v2", "compute_mean", "compute_median",
                     "compute_std", "aggregate_metrics", "resource_audit"]
    assert "`resource_audit` saw 7 steps (7 ok)" in text


def test_keys_artifact_and_json_line(reporting_run):
    outcome, workdir = reporting_run
    line = outcome.lines[-1]
    assert (line["step"], line["outputs"], line["artifact"]) == (
        "generate_report", ["report.path_v1", "report.excel_path_v1"], "Data/report.md")
    assert outcome.context["report.path_v1"] == "Data/report.md"
    assert outcome.context["report.excel_path_v1"] == "Data/metrics_summary.xlsx"
    assert (workdir / "Data" / "metrics_summary.xlsx").is_file()


def test_workbook_cells(reporting_run):
    outcome, workdir = reporting_run
    values = csv_values()
    book = load_workbook(workdir / "Data" / "metrics_summary.xlsx")
    assert book.sheetnames == ["steps", "metrics"]
    steps = [[cell.value for cell in row] for row in book["steps"].iter_rows()]
    assert steps[0] == ["step", "status", "duration_ms", "cpu_ms", "peak_rss_kb", "cache", "attempts", "executor",
                        "error"]
    assert [row[0] for row in steps[1:]] == ["load_numbers", "normalize_numbers", "compute_metrics_v2",
                                             "compute_mean", "compute_median", "compute_std", "aggregate_metrics",
                                             "resource_audit"]
    assert {row[1] for row in steps[1:]} == {"ok"}
    assert all(isinstance(row[2], float) and row[2] >= 0 for row in steps[1:])
    assert {row[0]: row[7] for row in steps[1:]}["compute_mean"] == "thread"
    metrics = {row[0].value: row[1].value for row in book["metrics"].iter_rows(min_row=2)}
    assert metrics["metrics.summary_v2.count"] == 18
    assert metrics["metrics.summary_v2.mean"] == pytest.approx(statistics.mean(values), rel=1e-12)
    assert metrics["metrics.summary_v2.median"] == pytest.approx(statistics.median(values), rel=1e-12)
    assert metrics["metrics.summary_v2.std"] == pytest.approx(statistics.stdev(values), rel=1e-12)
    assert metrics["metrics.aggregate_v1.mean"] == outcome.context["metrics.mean_v1"]
    assert set(metrics) == {f"metrics.summary_v1.{k}" for k in ("count", "mean", "min", "max", "std")} | {
        f"metrics.summary_v2.{k}" for k in ("count", "mean", "min", "max", "std", "median", "variance", "range",
                                            "q1", "q3")} | {
        "metrics.aggregate_v1.mean", "metrics.aggregate_v1.median", "metrics.aggregate_v1.std",
        "metrics.mean_v1", "metrics.median_v1", "metrics.std_v1"}


def test_without_summary_v2_the_section_says_what_to_run(run_step, written, tmp_path):
    result = run_step(GenerateReport, {"output": "r.md", "workbook": "w.xlsx"},
                      {"metrics.summary_v1": {"count": 3, "mean": 2.0, "min": 1.0, "max": 3.0, "std": 1.0}})
    assert result.status == "ok", result.error
    assert written(result) == {"report.path_v1": "Data/r.md", "report.excel_path_v1": "Data/w.xlsx"}
    text = (tmp_path / "Data" / "r.md").read_text()
    assert table(text, "Summary")["mean"] == "2"
    assert "run `compute_metrics_v2` before `generate_report`" in text
    assert "_No `metrics.aggregate_v1`" in text and "_No `resource.audit_v1`" in text


def test_a_template_of_ones_own_and_a_broken_one(run_step, tmp_path):
    (tmp_path / "mine.md").write_text("mean={{ summary_v2.mean | num(2) }}\n")
    ok = run_step(GenerateReport, {"template": "mine.md"}, {"metrics.summary_v2": {"mean": 1.234}})
    assert ok.status == "ok" and (tmp_path / "Data" / "report.md").read_text() == "mean=1.23\n"
    (tmp_path / "broken.md").write_text("line one\n{{ summary_v2.mean }\n")
    broken = run_step(GenerateReport, {"template": "broken.md"})
    assert broken.status == "error"
    assert broken.error["reason"] == f"report template {tmp_path / 'broken.md'}:2: unexpected '}}'"
    assert broken.error["details"] == {"template": str(tmp_path / "broken.md"), "line": 2}
    unknown = run_step(GenerateReport, {"template": "mine.md"})  # no metrics.summary_v2 at all
    assert unknown.error["details"]["line"] == 1 and "unknown variable" in unknown.error["reason"]


def test_bad_params(run_step):
    missing = run_step(GenerateReport, {"template": "nowhere.md"})
    assert missing.error["reason"] == "Report template not found: nowhere.md"
    outside = run_step(GenerateReport, {"output": "../r.md"})
    assert outside.error["reason"] == "Report files go under the data directory"


def test_10_reporting_through_the_command(orch_cli, tmp_path):
    outcome = orch_cli("run", "10_reporting").assert_success()
    assert outcome.lines[-1]["outputs"] == ["report.path_v1", "report.excel_path_v1"]
    assert (tmp_path / "Data" / "report.md").is_file() and (tmp_path / "Data" / "metrics_summary.xlsx").is_file()


def test_12_only_aggregate_and_report_after_a_full_run(orch_cli, tmp_path):
    orch_cli("run", "12_advanced_full").assert_success()
    (tmp_path / "Data" / "report.md").unlink()
    again = orch_cli("run", "12_advanced_full", "--only", "aggregate_metrics", "generate_report").assert_success()
    assert [line["step"] for line in again.lines] == ["aggregate_metrics", "generate_report"]
    text = (tmp_path / "Data" / "report.md").read_text()
    assert float(table(text, "Summary")["mean"]) == pytest.approx(statistics.mean(csv_values()), abs=5e-5)
    assert again.lines[-1]["artifact"] == "Data/report.md"
