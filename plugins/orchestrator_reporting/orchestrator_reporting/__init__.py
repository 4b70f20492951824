"""orchestrator-reporting: reports of orch runs, from templates.

The public API other plugins and scriptlets call. Names are imported on first use
(PEP 562), so importing this package costs nothing until a report is made: the
plugin module is imported on every ``orch`` start, Jinja2 and openpyxl only when
a template is rendered or a workbook written.

``render_template(path, variables)``
    a Jinja2 template file rendered with ``StrictUndefined``; a syntax error or an
    unknown variable is a :class:`ReportTemplateError` naming the template and line.
``write_workbook(path, steps, metrics)``
    an Excel workbook with a ``steps`` sheet and a ``metrics`` sheet.
``flatten_metrics(context)``
    the context keys under ``metrics.``, nested values flattened to dotted keys.
``build_report(run)`` / ``write_report(run, out_dir, formats)``
    what ``orch report`` shows about a run, and the files it writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_core.lazy import lazy_exports

__version__ = "0.2.0"

if TYPE_CHECKING:
    from .compare import compare_metrics
    from .graph import Graph, graph_of_plan, graph_of_run
    from .metrics import flatten_metrics
    from .report import RunReport, build_report
    from .templating import ReportTemplateError, render_template
    from .workbook import STEP_COLUMNS, write_workbook
    from .writer import FORMATS, write_report

_LAZY = {
    "compare_metrics": "compare",
    "Graph": "graph", "graph_of_plan": "graph", "graph_of_run": "graph",
    "flatten_metrics": "metrics",
    "RunReport": "report", "build_report": "report",
    "ReportTemplateError": "templating", "render_template": "templating",
    "STEP_COLUMNS": "workbook", "write_workbook": "workbook",
    "FORMATS": "writer", "write_report": "writer",
}

__all__ = sorted([*_LAZY, "__version__"])


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
