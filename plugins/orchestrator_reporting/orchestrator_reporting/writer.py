"""Writing a run's report to files: Markdown, one-file HTML, and the workbook.

| format | file | made from |
|---|---|---|
| ``md`` | ``report.md`` | ``templates/report.md.j2`` (or the user's ``--template``) |
| ``html`` | ``report.html`` | ``templates/report.html.j2`` (or ``--template``), the DAG inlined as SVG |
| ``xlsx`` | ``metrics_summary.xlsx`` | the ``steps`` and ``metrics`` sheets |
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .report import RunReport
from .workbook import WORKBOOK_NAME

FORMATS = ("md", "html", "xlsx")
FILE_NAMES = {"md": "report.md", "html": "report.html", "xlsx": WORKBOOK_NAME}
BUILTIN_TEMPLATES = {"md": "report.md.j2", "html": "report.html.j2"}


def write_report(report: RunReport, out_dir: str | Path, formats: Sequence[str] = ("md",),
                 *, template: str | Path | None = None) -> list[Path]:
    """Write ``report`` in each of ``formats`` into ``out_dir``; returns the files written.

    ``template`` replaces the built-in template of the Markdown and HTML formats.
    Raises ``ReportTemplateError`` for a broken template, ``ValueError`` for an unknown format.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format {unknown[0]!r}; use one of: {', '.join(FORMATS)}")
    out = Path(out_dir)
    written = []
    for fmt in formats:
        path = out / FILE_NAMES[fmt]
        if fmt == "xlsx":
            from .workbook import write_workbook

            written.append(write_workbook(path, [vars(row) for row in report.steps], report.metrics))
            continue
        text = render_report(report, fmt, template=template)
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def render_report(report: RunReport, fmt: str, *, template: str | Path | None = None) -> str:
    """The text of ``report`` in ``fmt`` (``md`` or ``html``)."""
    from .templating import render_builtin, render_template

    variables = report.variables()
    if fmt == "html":
        from markupsafe import Markup

        from .svg import draw

        from .report import timeline_svg

        variables["svg"] = Markup(draw(report.graph))
        timeline = timeline_svg(report)
        variables["timeline"] = Markup(timeline) if timeline else None
    if template is not None:
        return render_template(template, variables)
    return render_builtin(BUILTIN_TEMPLATES[fmt], variables)
