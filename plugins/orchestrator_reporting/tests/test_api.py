"""The Python API other plugins call: templates, workbooks, metrics, comparisons, the hook."""

from __future__ import annotations

import pytest

import orchestrator_reporting as reporting
from orchestrator_reporting import plugin


def test_render_template_with_variables(tmp_path):
    template = tmp_path / "t.md"
    template.write_text("{% for k, v in metrics.items() %}{{ k }}={{ v | num(2) }};{% endfor %}\n")
    assert reporting.render_template(template, {"metrics": {"a": 1.23456, "b": 2}}) == "a=1.23;b=2;"


def test_templates_include_their_neighbours(tmp_path):
    (tmp_path / "part.md").write_text("part {{ x }}")
    (tmp_path / "main.md").write_text("main, {% include 'part.md' %}")
    assert reporting.render_template(tmp_path / "main.md", {"x": 1}) == "main, part 1"


@pytest.mark.parametrize("source, line, message", [
    ("ok\n{% if x %}\nunclosed\n", 3, "Unexpected end of template"),
    ("ok\n\n{{ missing }}\n", 3, "unknown variable: 'missing' is undefined"),
    ("{{ x }}\n{{ x.deep.er }}\n", 2, "unknown variable: 'dict object' has no attribute 'deep'"),
    ("a\n{{ 1 / x.zero }}\n", 2, "ZeroDivisionError: division by zero"),
])
def test_template_errors_name_the_template_and_line(tmp_path, source, line, message):
    template = tmp_path / "broken.md"
    template.write_text(source)
    with pytest.raises(reporting.ReportTemplateError) as caught:
        reporting.render_template(template, {"x": {"zero": 0}})
    error = caught.value
    assert (error.template, error.line) == (str(template), line)
    assert error.message.startswith(message)
    assert str(error).startswith(f"report template {template}:{line}: ")
    assert error.exit_code == 2


def test_an_error_in_an_included_template_points_into_it(tmp_path):
    (tmp_path / "part.md").write_text("fine\n{{ nope }}\n")
    (tmp_path / "main.md").write_text("{% include 'part.md' %}\n")
    with pytest.raises(reporting.ReportTemplateError) as caught:
        reporting.render_template(tmp_path / "main.md", {})
    assert (caught.value.template, caught.value.line) == (str(tmp_path / "part.md"), 2)


def test_a_missing_template_file(tmp_path):
    with pytest.raises(reporting.ReportTemplateError, match="no such template file"):
        reporting.render_template(tmp_path / "gone.md", {})


def test_flatten_metrics_keeps_only_metrics_keys():
    context = {"numbers.raw_v1": [1], "metrics.b_v1": {"x": {"y": 1}, "z": [1, 2]}, "metrics.a_v1": 0.5,
               "metrics.empty_v1": {}}
    assert reporting.flatten_metrics(context) == {"metrics.a_v1": 0.5, "metrics.b_v1.x.y": 1,
                                                  "metrics.b_v1.z": [1, 2], "metrics.empty_v1": {}}


def test_compare_metrics():
    rows = {r.key: r for r in reporting.compare_metrics({"metrics.a": 2, "metrics.gone": 1, "metrics.zero": 0},
                                                        {"metrics.a": 3, "metrics.new": "x", "metrics.zero": 5})}
    assert (rows["metrics.a"].change, rows["metrics.a"].delta, rows["metrics.a"].percent) == ("up", 1, 50.0)
    assert rows["metrics.gone"].change == "removed" and rows["metrics.new"].change == "added"
    assert rows["metrics.zero"].percent is None and rows["metrics.zero"].delta == 5
    # As JSON values: true is not 1, [1, 0] is not [1.0, false] (Python's == says they are).
    rows = {r.key: r.change for r in reporting.compare_metrics(
        {"metrics.flag": 1, "metrics.list": [1, 0], "metrics.same": [1, "x"]},
        {"metrics.flag": True, "metrics.list": [1.0, False], "metrics.same": [1, "x"]})}
    assert rows == {"metrics.flag": "changed", "metrics.list": "changed", "metrics.same": "same"}


def test_write_workbook(tmp_path):
    from openpyxl import load_workbook

    path = reporting.write_workbook(tmp_path / "sub" / "w.xlsx",
                                    [{"step": "a", "status": "error", "error": {"reason": "bad", "details": {}}}],
                                    {"metrics.x": 1.5, "metrics.list": [1, 2], "metrics.flag": True})
    book = load_workbook(path)
    assert [c.value for c in book["steps"][2]] == ["a", "error", None, None, None, None, None, None, "bad"]
    assert [[c.value for c in row] for row in book["metrics"].iter_rows(min_row=2)] == [
        ["metrics.x", 1.5], ["metrics.list", "[1,2]"], ["metrics.flag", True]]


def test_an_integer_a_spreadsheet_would_round_is_written_as_its_digits(tmp_path):
    from openpyxl import load_workbook

    huge, exact = 10 ** 400, 2 ** 53
    path = reporting.write_workbook(tmp_path / "w.xlsx", [],
                                    {"metrics.huge": huge, "metrics.big": exact + 1, "metrics.exact": exact})
    values = {row[0].value: row[1].value for row in load_workbook(path)["metrics"].iter_rows(min_row=2)}
    assert values == {"metrics.huge": str(huge), "metrics.big": str(exact + 1), "metrics.exact": exact}
    assert [p.name for p in tmp_path.iterdir()] == ["w.xlsx"]  # no partial file left beside it


def test_orch_report_hook_writes_the_asked_formats(run_orch_recipe, orch_pm, register_plugin, tmp_path):
    """In-process: the hook on a live run (not one read back from the store)."""
    from orchestrator_core import BaseScriptlet

    class Measure(BaseScriptlet):
        name = "measure"
        outputs = ("metrics.speed_v1",)

        def run(self, ctx, params):
            ctx.set("metrics.speed_v1", {"max": 3})

    class Pack:
        from orchestrator_core import hookimpl

        @hookimpl
        def orch_register_scriptlets(self):
            return [Measure]

        @hookimpl
        def orch_run_finish(self, run):
            self.paths = plugin.orch_report(run=run, out_dir=tmp_path / "out")

    pack = register_plugin(Pack(), "pack")
    outcome = run_orch_recipe("steps:\n  - {name: m, uses: measure}\n",
                              config={"options": {"reporting": {"formats": ["md", "xlsx"]}}})
    assert outcome.error is None
    assert [p.rsplit("/", 1)[1] for p in pack.paths] == ["report.md", "metrics_summary.xlsx"]
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| m | ok |" in text and "| `metrics.speed_v1.max` | 3 |" in text


def test_workbook_text_that_starts_with_equals_is_text_not_a_formula(tmp_path):
    from openpyxl import load_workbook

    path = reporting.write_workbook(
        tmp_path / "w.xlsx", [{"step": "=2+2", "status": "error", "error": {"reason": "=1+2", "details": {}}}],
        {"metrics.f": "=1+1", "metrics.link": '=HYPERLINK("http://example.com","x")', "metrics.n": 3})
    book = load_workbook(path)
    steps, metrics = book["steps"], book["metrics"]
    assert [(c.value, c.data_type) for c in steps[2][:1]] == [("=2+2", "s")]
    assert (steps[2][8].value, steps[2][8].data_type) == ("=1+2", "s")
    cells = {row[0].value: (row[1].value, row[1].data_type) for row in metrics.iter_rows(min_row=2)}
    assert cells["metrics.f"] == ("=1+1", "s") and cells["metrics.link"][1] == "s"
    assert cells["metrics.n"] == (3, "n")
