"""``orch report`` on runs recorded by the real ``orch run``: every format, compare, and the errors."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest


def written(outcome) -> dict[str, Path]:
    """File name → path of the files ``orch report`` printed (relative to its working directory)."""
    paths = [outcome.cwd / line for line in outcome.out.splitlines() if line.strip()]
    return {path.name: path for path in paths}


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under ``## heading``, as lists of cells."""
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[2:]]


def test_markdown_report_of_the_latest_run(recorded, tmp_path):
    outcome = recorded.orch("report", "--out", str(tmp_path / "md"), recorded.second).assert_success()
    files = written(outcome)
    assert set(files) == {"report.md", "extra.txt"}  # ours, and the test pack's own orch_report
    assert files["extra.txt"].read_text() == f"{recorded.second} report_demo 4 results\n"
    text = files["report.md"].read_text()
    assert text.startswith("# Run report: report_demo\n")
    assert f"| Run | `{recorded.second}` |" in text and "| Status | **ok** |" in text
    steps = table_rows(text, "Steps")
    assert [row[:2] for row in steps] == [["load", "ok"], ["left", "ok"], ["right", "ok"], ["total", "ok"]]
    executors = {row[0]: row[7] for row in steps}
    assert executors == {"load": "inline", "left": "thread", "right": "thread", "total": "inline"}
    assert {row[0]: row[5] for row in steps}["total"] == "miss"  # cache_key: total, first time
    assert all(re.fullmatch(r"\d+(\.\d)? ms", row[2]) and row[4].endswith(" MiB") for row in steps)
    mermaid = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert mermaid.startswith("flowchart TD\n")
    for edge in ("load --> left", "load --> right", "left --> total", "right --> total"):
        assert f"    {edge}\n" in mermaid
    assert 'left["left<br/>ok · thread · ' in mermaid
    metrics = dict(row[:2] for row in table_rows(text, "Metrics"))
    assert metrics == {"`metrics.count_v1`": "4", "`metrics.label_v1`": "after", "`metrics.mean_v1`": "4",
                       "`metrics.summary_v1.count`": "4", "`metrics.summary_v1.mean`": "4",
                       "`metrics.summary_v1.std`": "1.25"}
    assert "Numbers are shown to 6 significant digits; the context below" in text  # rounded, and said so
    context = {row[0]: row for row in table_rows(text, "Context")}
    assert context["`data.note_v1`"][1:] == ['`"a \\| b"`', "put", "load"]  # who and step; the pipe escaped
    assert context["`metrics.count_v1`"][2:] == ["put", "total"]
    assert "No step failed." in text


def test_default_folder_and_json(recorded):
    outcome = recorded.orch("report", "--json").assert_success()
    document = json.loads(outcome.out)
    assert (document["run"], document["recipe"], document["status"]) == (recorded.failed, "report_failing", "error")
    folder = recorded.workdir / "Data" / "reports" / recorded.failed
    assert sorted(document["files"]) == [str(folder / "extra.txt"), str(folder / "report.md")]
    assert (folder / "report.md").is_file()


def test_errors_with_details_and_steps_not_run(recorded, tmp_path):
    outcome = recorded.orch("report", recorded.failed, "--out", str(tmp_path)).assert_success()
    text = written(outcome)["report.md"].read_text()
    assert [row[:2] for row in table_rows(text, "Steps")] == [["load", "ok"], ["explode", "error"],
                                                             ["after", "not run"]]
    errors = text.split("## Errors\n", 1)[1].split("\n## ", 1)[0]
    assert "### explode: Too few numbers (min=5)" in errors
    assert "- exit code: 3" in errors
    details = json.loads(errors.split("```json\n", 1)[1].split("```", 1)[0])
    assert details == {"count": 3, "seen": [1, 2, 3]}
    assert "classDef error" in text and "class explode error" in text


def test_a_changed_recipe_file_is_noted(recorded, tmp_path):
    text = written(recorded.orch("report", recorded.first, "--out", str(tmp_path)).assert_success())[
        "report.md"].read_text()
    assert "changed since this run" in text
    assert dict(row[:2] for row in table_rows(text, "Metrics"))["`metrics.mean_v1`"] == "2.5"


def test_workbook_cells(recorded, tmp_path):
    from openpyxl import load_workbook

    outcome = recorded.orch("report", recorded.failed, "--format", "xlsx", "--out", str(tmp_path)).assert_success()
    path = written(outcome)["metrics_summary.xlsx"]
    book = load_workbook(path)
    assert book.sheetnames == ["steps", "metrics"]
    steps = [[cell.value for cell in row] for row in book["steps"].iter_rows()]
    assert steps[0] == ["step", "status", "duration_ms", "cpu_ms", "peak_rss_kb", "cache", "attempts", "executor",
                        "error"]
    by_step = {row[0]: dict(zip(steps[0], row)) for row in steps[1:]}
    assert list(by_step) == ["load", "explode", "after"]
    assert by_step["explode"]["status"] == "error" and by_step["explode"]["error"] == "Too few numbers (min=5)"
    assert isinstance(by_step["load"]["duration_ms"], float) and by_step["load"]["peak_rss_kb"] > 1000
    assert by_step["load"]["executor"] == "inline" and by_step["load"]["attempts"] == 1
    assert by_step["after"]["status"] == "not run" and by_step["after"]["duration_ms"] is None
    metrics = [[cell.value for cell in row] for row in book["metrics"].iter_rows()]
    assert metrics == [["key", "value"], ["metrics.mean_v1", 1.0]]


def test_workbook_flattens_nested_metrics(recorded, tmp_path):
    from openpyxl import load_workbook

    recorded.orch("report", recorded.second, "--format", "xlsx", "--out", str(tmp_path)).assert_success()
    rows = {row[0].value: row[1].value for row in load_workbook(tmp_path / "metrics_summary.xlsx")["metrics"]
            .iter_rows(min_row=2)}
    assert rows == {"metrics.count_v1": 4, "metrics.label_v1": "after", "metrics.mean_v1": 4,
                    "metrics.summary_v1.count": 4, "metrics.summary_v1.mean": 4, "metrics.summary_v1.std": 1.25}


def test_compare_two_runs(recorded):
    outcome = recorded.orch("report", "--compare", recorded.first, recorded.second).assert_success()
    assert f"A = {recorded.first} (report_demo, ok)" in outcome.out
    rows = {line.split()[0]: line.split(None, 3)[1:] for line in outcome.out.splitlines()
            if line.startswith("metrics.")}
    assert rows["metrics.mean_v1"] == ["2.5", "4", "+1.5 (+60 %)"]
    assert rows["metrics.summary_v1.std"] == ["1.25", "1.25", "same"]
    assert rows["metrics.label_v1"] == ["before", "after", "changed"]
    document = json.loads(recorded.orch("report", "--compare", recorded.second, recorded.failed,
                                        "--json").assert_success().out)
    by_key = {row["key"]: row for row in document["metrics"]}
    assert by_key["metrics.mean_v1"] == {"key": "metrics.mean_v1", "a": 4, "b": 1.0, "change": "down",
                                         "delta": -3.0, "percent": -75.0}
    assert by_key["metrics.label_v1"]["change"] == "removed" and by_key["metrics.label_v1"]["b"] is None
    assert (document["a"]["id"], document["b"]["id"]) == (recorded.second, recorded.failed)


BROKEN_SYNTAX = "# {{ run.recipe }}\n\n{% for s in steps %}\n- {{ s.step }\n{% endfor %}\n"
UNKNOWN_VARIABLE = "# {{ run.recipe }}\n{% for s in steps %}\n- {{ s.step }} took {{ s.seconds }}\n{% endfor %}\n"


@pytest.mark.parametrize("source, line, message", [
    (BROKEN_SYNTAX, 4, "unexpected '}'"),
    (UNKNOWN_VARIABLE, 3, "unknown variable: 'dict object' has no attribute 'seconds'"),
])
def test_a_broken_template_names_template_and_line(recorded, tmp_path, source, line, message):
    template = tmp_path / "mine.md.j2"
    template.write_text(source)
    outcome = recorded.orch("report", "--template", str(template), "--out", str(tmp_path / "out"))
    assert outcome.exit_code == 2
    assert outcome.err.strip() == f"orch: error: report template {template}:{line}: {message}"
    assert not (tmp_path / "out" / "report.md").exists()


def test_a_template_of_ones_own(recorded, tmp_path):
    template = tmp_path / "short.md.j2"
    template.write_text("{{ run.recipe }}: {% for s in steps %}{{ s.step }}={{ s.status }} {% endfor %}\n")
    outcome = recorded.orch("report", recorded.failed, "--template", str(template), "--out", str(tmp_path))
    assert written(outcome.assert_success())["report.md"].read_text() == (
        "report_failing: load=ok explode=error after=not run ")  # trim_blocks: no newline after a block tag


def test_clear_errors(recorded, tmp_path):
    unknown = recorded.orch("report", "19990101T000000-000000")
    assert unknown.exit_code == 2 and "orch runs list" in unknown.err and "Traceback" not in unknown.err
    empty = recorded.orch("report", cwd=tmp_path)
    assert empty.exit_code == 2 and "no run has been recorded" in empty.err and not (tmp_path / ".orch").exists()
    (tmp_path / ".orch").mkdir()
    sqlite3.connect(tmp_path / ".orch" / "state.db").close()  # a store with no run in it
    no_runs = recorded.orch("report", cwd=tmp_path)
    assert no_runs.exit_code == 2 and "holds no run yet" in no_runs.err, no_runs.err
    bad_format = recorded.orch("report", "--format", "pdf")
    assert bad_format.exit_code == 2 and "'pdf' is not one of 'md', 'html', 'xlsx'" in bad_format.err
    mixed = recorded.orch("report", "--compare", recorded.first, recorded.second, "--format", "html")
    assert mixed.exit_code == 2 and "--compare" in mixed.err


def test_state_dir_option(recorded, tmp_path):
    outcome = recorded.orch("report", "--state-dir", str(recorded.workdir / ".orch"), "--json", cwd=tmp_path)
    assert json.loads(outcome.assert_success().out)["run"] == recorded.failed


def test_the_plugin_is_listed_with_its_hooks(recorded):
    plugins = {p["name"]: p for p in json.loads(recorded.orch("plugins", "list", "--json").assert_success().out)}
    assert plugins["reporting"]["distribution"] == "orchestrator-reporting"
    assert {"orch_add_commands", "orch_report"} <= set(plugins["reporting"]["hooks"])
