"""The workbook export (guide §15: ``metrics_summary.xlsx``): a sheet of steps, a sheet of metrics.

``steps`` has one row per step with the columns of :data:`STEP_COLUMNS`; ``metrics``
has one row per flattened metric (``key``, ``value``). Numbers stay numbers, so a
spreadsheet can sum or chart them; a list or other structured value is one cell of
JSON text. Text is always text: a step name or a metric ``=1+1`` is not made a formula
(which a spreadsheet would compute, or use to reach out: formula injection). openpyxl is imported here only (it takes ~130 ms to import).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

WORKBOOK_NAME = "metrics_summary.xlsx"
STEP_COLUMNS = ("step", "status", "duration_ms", "cpu_ms", "peak_rss_kb", "cache", "attempts", "executor",
                "error")
METRIC_COLUMNS = ("key", "value")


# A spreadsheet keeps numbers as 64-bit floats: a larger integer would be rounded (or, past
# the float range, refused), so it is written as its digits instead.
EXACT_INTEGER = 2 ** 53


def cell_value(value: Any) -> Any:
    """What a cell can hold: numbers, text and booleans as they are, anything else as JSON text
    (an integer a spreadsheet would round, as its digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > EXACT_INTEGER:
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


def _error_text(error: Any) -> Any:
    if isinstance(error, Mapping):
        return error.get("reason") or cell_value(error)
    return cell_value(error)


def write_workbook(path: str | Path, steps: Iterable[Mapping[str, Any]], metrics: Mapping[str, Any]) -> Path:
    """Write the workbook to ``path`` (folders created) and return the path.

    ``steps``: mappings with (some of) the keys of :data:`STEP_COLUMNS`; a step's
    ``error`` may be its error JSON (its ``reason`` is written). ``metrics``: key →
    value, usually :func:`~orchestrator_reporting.metrics.flatten_metrics` of a context.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    path = Path(path)
    book = Workbook()
    sheet = book.active
    sheet.title = "steps"
    sheet.append(list(STEP_COLUMNS))
    for step in steps:
        sheet.append([_error_text(step.get(c)) if c == "error" else cell_value(step.get(c)) for c in STEP_COLUMNS])
    table = book.create_sheet("metrics")
    table.append(list(METRIC_COLUMNS))
    for key, value in metrics.items():
        table.append([key, cell_value(value)])
    for ws in (sheet, table):
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if cell.data_type == "f":  # text starting with "=" is kept as text, never a live formula
                    cell.data_type = "s"
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        for column in ws.columns:
            width = max(len(str(cell.value)) if cell.value is not None else 0 for cell in column)
            ws.column_dimensions[column[0].column_letter].width = min(max(width + 2, 8), 60)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        book.save(partial)  # a save that fails half-way leaves no broken workbook under the real name
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
