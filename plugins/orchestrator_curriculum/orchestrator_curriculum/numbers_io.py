"""Reading numbers CSV files, and finding the numbers a step works on.

Real CSV files are dirty: blank cells, a word where a number belongs, stray spaces,
a header pasted twice, blank lines. :func:`read_numbers` keeps every row whose cells
all parse as finite numbers (after stripping spaces) and records why each other row
was skipped, so a load never fails on one bad row and never hides that it skipped some.

Steps that run after ``load_numbers`` read its ``numbers.raw_v1``; when that key is
missing (a step run alone, or resumed without a recorded context) they fall back to
the packaged sample and say so on stderr, so every scriptlet can run on its own.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from orchestrator_core import ScriptletError, get_logger

from . import stats

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_SAMPLE = "numbers.csv"

# The params that name a numbers source (see source_path), in every schema of a step that reads one.
SOURCE_PARAMS: dict[str, Any] = {
    "path": {"type": "string", "minLength": 1, "description": "CSV file, relative to the working directory"},
    "data_file": {"type": "string", "minLength": 1,
                  "description": "instead of path: a CSV in the data directory (--data-dir)"},
    "sample": {"type": "string", "minLength": 1, "default": DEFAULT_SAMPLE,
               "description": "packaged sample used when no path is given"},
}
RAW_KEY = "numbers.raw_v1"
NORMALIZED_KEY = "numbers.normalized_v1"

logger = get_logger(__name__)


@dataclass
class NumbersTable:
    """The numeric columns of a CSV file, row-aligned, and the rows that were skipped."""

    source: str
    columns: list[str]
    data: dict[str, list[float]] = field(default_factory=dict)
    skipped_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.data[self.columns[0]]) if self.columns else 0


def sample_names() -> list[str]:
    """The sample CSV files shipped in the package."""
    return sorted(p.name for p in DATA_DIR.glob("*.csv"))


def sample_path(name: str = DEFAULT_SAMPLE) -> Path:
    """Path of the packaged sample ``name``; a ``ScriptletError`` lists the samples when unknown."""
    path = DATA_DIR / name
    if Path(name).name != name or not path.is_file():
        raise ScriptletError(f"Unknown sample {name!r}", details={"samples": sample_names()})
    return path


def source_path(params: Mapping[str, Any], workdir: Path, data_dir: Path) -> Path:
    """The file named by params ``path`` (relative to ``workdir``), ``data_file`` (a file in the
    data directory, wherever ``--data-dir`` puts it) or ``sample`` (packaged).

    A missing file is the guide's "missing source file" failure, naming the path.
    """
    if params.get("path") and params.get("data_file"):
        raise ScriptletError("Give either 'path' or 'data_file', not both",
                             details={"path": params["path"], "data_file": params["data_file"]})
    if params.get("path") or params.get("data_file"):
        folder = workdir if params.get("path") else (data_dir if data_dir.is_absolute() else workdir / data_dir)
        named = params.get("path") or params["data_file"]
        path = Path(named)
        path = path if path.is_absolute() else folder / path
        if not path.is_file():
            shown = str(named) if params.get("path") else f"{named} (in the data directory {folder})"
            raise ScriptletError(f"Numbers file not found: {shown}", details={"path": str(named)})
        return path
    return sample_path(params.get("sample") or DEFAULT_SAMPLE)


def source_files(params: Mapping[str, Any], workdir: Path, data_dir: Path) -> list[Path]:
    """The file a numbers source reads, whether or not it exists, for the cache fingerprint
    (``BaseScriptlet.files``): ``path``, else ``data_file``, else the packaged sample."""
    named = params.get("path") or params.get("data_file")
    if not isinstance(named, str) or not named:
        sample = params.get("sample") or DEFAULT_SAMPLE
        return [DATA_DIR / sample] if isinstance(sample, str) and Path(sample).name == sample else []
    folder = workdir if params.get("path") else (data_dir if data_dir.is_absolute() else workdir / data_dir)
    path = Path(named)
    return [path if path.is_absolute() else folder / path]


def source_label(params: Mapping[str, Any], path: Path, ctx: Any) -> str:
    """How the context names the source: its path relative to the working directory, or
    ``sample:<name>`` for a packaged sample."""
    return ctx.relative(path) if params.get("path") or params.get("data_file") else f"sample:{path.name}"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes: the identity of a numbers source for caching."""
    import hashlib  # imported here: loading OpenSSL costs every orch start (orchestrator_core.digest)

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _row_problem(cells: list[str], header: list[str], wanted: list[int]) -> str | None:
    """Why a data row cannot be used, or ``None`` when every wanted cell is a number."""
    if not any(cells):
        return "blank line"
    if cells == header:
        return "repeated header"
    if len(cells) != len(header):
        return f"expected {len(header)} cells, found {len(cells)}"
    for i in wanted:
        if not cells[i]:
            return f"blank cell in {header[i]!r}"
        if _number(cells[i]) is None:
            return f"not a number in {header[i]!r}: {cells[i]!r}"
    return None


def read_numbers(path: Path, columns: list[str] | None = None, *, source: str | None = None) -> NumbersTable:
    """Read the numeric ``columns`` (default: every column) of the CSV file at ``path``.

    The first non-blank row is the header. Each skipped row is recorded as
    ``{"line": N, "reason": "..."}`` with its 1-based line number in the file.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [[cell.strip() for cell in row] for row in csv.reader(handle)]
    numbered = [(i + 1, row) for i, row in enumerate(rows)]
    while numbered and not any(numbered[0][1]):
        numbered.pop(0)
    if not numbered:
        raise ScriptletError(f"No header row in {path.name}", details={"path": str(path)})
    header = numbered[0][1]
    if "" in header or len(set(header)) != len(header):
        raise ScriptletError(f"Header of {path.name} needs unique, non-empty names",
                             details={"header": header})
    chosen = list(columns) if columns else list(header)
    unknown = [c for c in chosen if c not in header]
    if unknown:
        raise ScriptletError(f"Unknown column {unknown[0]!r} in {path.name}",
                             details={"columns": header, "unknown": unknown})
    wanted = [header.index(c) for c in chosen]
    table = NumbersTable(source or str(path), chosen, {c: [] for c in chosen})
    for line, cells in numbered[1:]:
        problem = _row_problem(cells, header, wanted)
        if problem:
            table.skipped_rows.append({"line": line, "reason": problem})
            continue
        for name, i in zip(chosen, wanted):
            table.data[name].append(float(cells[i]))
    if table.skipped_rows:
        logger.info("%s: skipped %d of %d data rows (%s)", path.name, len(table.skipped_rows),
                    len(numbered) - 1, "; ".join(f"line {r['line']}: {r['reason']}" for r in table.skipped_rows))
    return table


def raw_value(table: NumbersTable, column: str) -> dict[str, Any]:
    """The value of ``numbers.raw_v1`` for ``table``, with ``column`` as the primary series."""
    return {
        "source": table.source,
        "column": column,
        "values": list(table.data[column]),
        "columns": list(table.columns),
        "data": {name: list(values) for name, values in table.data.items()},
        "count": table.count,
        "skipped": len(table.skipped_rows),
        "skipped_rows": list(table.skipped_rows),
    }


def sample_raw() -> dict[str, Any]:
    """``numbers.raw_v1`` as ``load_numbers`` writes it for the packaged sample."""
    path = sample_path()
    table = read_numbers(path, source=f"sample:{path.name}")
    return raw_value(table, table.columns[0])


def raw_numbers(ctx: Any, who: str) -> dict[str, Any]:
    """``numbers.raw_v1`` from the context, else the packaged sample (said on stderr)."""
    raw = ctx.get(RAW_KEY)
    if isinstance(raw, dict) and isinstance(raw.get("values"), list):
        return raw
    logger.warning("%s: %s is not in the context; using the packaged sample %s",
                   who, RAW_KEY, DEFAULT_SAMPLE)
    return sample_raw()


def normalized_numbers(ctx: Any, who: str) -> list[float]:
    """``numbers.normalized_v1`` from the context, else the raw numbers scaled here.

    Either way the values mean the same thing: the primary column min-max scaled to [0, 1].
    """
    normalized = ctx.get(NORMALIZED_KEY)
    if isinstance(normalized, list):
        values = [float(v) for v in normalized]
    else:
        logger.warning("%s: %s is not in the context; scaling %s here", who, NORMALIZED_KEY, RAW_KEY)
        values = raw_numbers(ctx, who)["values"]
        values = stats.min_max_scale(values) if values else []
    if not values:
        raise ScriptletError("No numbers to work on", details={"count": 0})
    return values
