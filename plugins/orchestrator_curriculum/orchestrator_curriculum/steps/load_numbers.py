"""load_numbers: read a numbers CSV into the context, skipping (and counting) dirty rows.

Params:
  ``path`` (string, optional): the CSV file, relative to the working directory.
  ``data_file`` (string, optional): instead of ``path``, a CSV in the data directory
  (``Data/`` unless ``--data-dir`` says otherwise), such as an earlier step's artifact.
  ``sample`` (string, default ``numbers.csv``): a CSV shipped in the package, used
  when no ``path`` is given (``numbers_short.csv`` has too few rows on purpose).
  ``column`` (string, optional): the primary series; default: the first column read.
  ``columns`` (list of strings, optional): the columns to read; default: all of them.
Writes: ``numbers.raw_v1`` = ``{"source", "column", "values", "columns", "data",
"count", "skipped", "skipped_rows"}``: ``source`` is the file (relative to the working
directory when it lies under it) or ``sample:<name>``; ``values`` is the primary
column; ``data`` maps each column read to its values, row-aligned; ``skipped_rows``
lists ``{"line", "reason"}`` for every row left out.
Fails: a missing file ("Numbers file not found: <path>", details ``{"path"}``), an
unknown sample or column, a file without a header row.
"""

from __future__ import annotations

from orchestrator_core import ScriptletError

from orchestrator_curriculum import numbers_io
from orchestrator_curriculum.base import CurriculumScriptlet


class LoadNumbers(CurriculumScriptlet):
    """Load the numbers every later step works on; tolerant of dirty rows, and says which it skipped."""

    name = "load_numbers"
    outputs = ("numbers.raw_v1",)
    inputs = ()
    params_schema = {
        "type": "object",
        "properties": {
            **numbers_io.SOURCE_PARAMS,
            "column": {"type": "string", "minLength": 1, "description": "primary column (default: the first)"},
            "columns": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                        "uniqueItems": True, "description": "columns to read (default: all)"},
        },
        "additionalProperties": False,
    }

    @classmethod
    def files(cls, params, workdir, data_dir):
        return numbers_io.source_files(params, workdir, data_dir)

    def validate(self, ctx, params):
        super().validate(ctx, params)
        numbers_io.source_path(params, ctx.workdir, ctx.data_dir)  # a missing file fails before any work

    def run(self, ctx, params):
        path = numbers_io.source_path(params, ctx.workdir, ctx.data_dir)
        source = numbers_io.source_label(params, path, ctx)
        columns = params.get("columns")
        column = params.get("column")
        if column and columns and column not in columns:
            columns = [*columns, column]
        table = numbers_io.read_numbers(path, columns, source=source)
        if column and column not in table.columns:
            raise ScriptletError(f"Unknown column {column!r} in {path.name}",
                                 details={"columns": table.columns, "unknown": [column]})
        ctx.set("numbers.raw_v1", numbers_io.raw_value(table, column or table.columns[0]))


if __name__ == "__main__":
    LoadNumbers.main()
