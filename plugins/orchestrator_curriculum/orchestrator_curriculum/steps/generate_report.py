"""generate_report: the run's metrics as a Markdown report and a workbook (guide §8, §15, Module 10).

Params:
  ``template`` (path of a Jinja2 template, relative to the working directory; default:
  the packaged ``templates/report_template.md``).
  ``output`` (file name under the data directory, default ``report.md``).
  ``workbook`` (file name under the data directory, default ``metrics_summary.xlsx``).
  Names may not leave the data directory.
Reads: every ``metrics.*`` key (``metrics.summary_v2``, ``metrics.aggregate_v1``...),
``numbers.raw_v1`` (the source), ``resource.audit_v1`` and ``_runner.step_metrics_v1``
(what the earlier steps cost). Any of them may be missing: its section says so instead
(guide §22: without ``metrics.summary_v2`` the summary section is missing).
Writes:
  ``report.path_v1`` (string): the report's path relative to the working directory.
  ``report.excel_path_v1`` (string): the workbook's path, the same way; its sheet
  ``steps`` has one row per earlier step, its sheet ``metrics`` one row per flattened
  ``metrics.*`` value.
Artifact: ``Data/report.md``; the JSON line carries its path as ``artifact``.
Template variables: ``run_id``, ``generated`` (UTC time), ``source`` (``numbers.raw_v1``
without its value lists, or none), ``summary_v1``, ``summary_v2``, ``aggregate``,
``stats`` (``numbers.stats_v1``), ``audit`` (each the key's value, or none), ``steps``
(rows of ``step``, ``status``, ``duration_ms``, ``cpu_ms``, ``peak_rss_kb``, ``executor``,
``cache``, ``attempts``) and ``metrics`` (flattened key → value). A template with a syntax
error or an unknown variable fails the step with its file and line in ``details``.
Rendering and the workbook are the reporting plugin's (``orchestrator-reporting``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path, PurePath
from typing import Any

from orchestrator_core import METRICS_KEY, ScriptletError

from orchestrator_curriculum.base import CurriculumScriptlet

TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "report_template.md"
RUNNER_METRICS_KEY = METRICS_KEY


class GenerateReport(CurriculumScriptlet):
    """Give people one file to read, and a workbook to sort, after a pipeline ran."""

    name = "generate_report"
    outputs = ("report.path_v1", "report.excel_path_v1")
    inputs = None  # every metrics.* key, whichever steps wrote them
    params_schema = {
        "type": "object",
        "properties": {
            "template": {"type": "string", "minLength": 1,
                         "description": "Jinja2 template file, relative to the working directory"},
            "output": {"type": "string", "minLength": 1, "default": "report.md",
                       "description": "report file name under the data directory"},
            "workbook": {"type": "string", "minLength": 1, "default": "metrics_summary.xlsx",
                         "description": "workbook file name under the data directory"},
        },
        "additionalProperties": False,
    }

    def validate(self, ctx, params):
        super().validate(ctx, params)
        outside = [name for name in (self.param(params, "output"), self.param(params, "workbook"))
                   if PurePath(name).is_absolute() or ".." in PurePath(name).parts]
        if outside:
            raise ScriptletError("Report files go under the data directory", details={"files": outside})
        template = self.template_path(ctx, params)
        if not template.is_file():
            raise ScriptletError(f"Report template not found: {params.get('template') or template}",
                                 details={"template": str(template)})

    @staticmethod
    def template_path(ctx, params) -> Path:
        if not params.get("template"):
            return TEMPLATE
        path = Path(params["template"])
        return path if path.is_absolute() else ctx.workdir / path

    def run(self, ctx, params):
        from orchestrator_reporting import ReportTemplateError, flatten_metrics, render_template, write_workbook

        context = ctx.to_dict()
        variables = report_variables(context, ctx.run_id)
        template = self.template_path(ctx, params)
        try:
            text = render_template(template, variables)
        except ReportTemplateError as exc:
            raise ScriptletError(str(exc), details={"template": exc.template, "line": exc.line}) from None
        report = ctx.artifact_path(self.param(params, "output"))
        report.write_text(text, encoding="utf-8")
        workbook = write_workbook(ctx.artifact_path(self.param(params, "workbook")), variables["steps"],
                                  flatten_metrics(context))
        ctx.set("report.path_v1", ctx.relative(report))
        ctx.set("report.excel_path_v1", ctx.relative(workbook))
        return {"artifact": ctx.relative(report)}


def report_variables(context: dict[str, Any], run_id: str | None) -> dict[str, Any]:
    """What the template sees (see the module docstring), from the context as it is now."""
    from orchestrator_reporting import flatten_metrics

    raw = context.get("numbers.raw_v1")
    source = ({k: v for k, v in raw.items() if k not in ("values", "data", "skipped_rows")}
              if isinstance(raw, dict) else None)
    runner = context.get(RUNNER_METRICS_KEY)
    steps = [{"step": name, **entry} for name, entry in runner.items() if isinstance(entry, dict)] \
        if isinstance(runner, dict) else []
    return {
        "run_id": run_id or "standalone",
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": source,
        "summary_v1": context.get("metrics.summary_v1"),
        "summary_v2": context.get("metrics.summary_v2"),
        "aggregate": context.get("metrics.aggregate_v1"),
        "stats": context.get("numbers.stats_v1"),
        "audit": context.get("resource.audit_v1"),
        "steps": steps,
        "metrics": flatten_metrics(context),
    }


if __name__ == "__main__":
    GenerateReport.main()
