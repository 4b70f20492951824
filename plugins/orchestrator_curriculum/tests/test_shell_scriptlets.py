"""The shell scriptlets sanitize_csv.sh and enrich_csv.sh, and recipe 02_basic_mixed (guide §8, §10.3).

Each expectation is computed here in plain Python from the CSV file itself, so the
scripts' awk is checked against an independent reading of the same rules. They run
through the real ``orch`` command (which needs this pack and orchestrator-shell-steps
installed), and once by hand, as a script author would try one.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from orchestrator_curriculum import numbers_io, plugin

SCRIPTS = plugin.scripts_dir()
SAMPLE = numbers_io.DATA_DIR / "numbers.csv"
PROJECT = Path(__file__).resolve().parents[1]


def sanitized_by_python(path: Path) -> tuple[list[list[str]], dict]:
    """The clean rows (header first) and the counts, computed with the csv module and ``float``."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [(i + 1, [cell.strip() for cell in row]) for i, row in enumerate(csv.reader(handle))]
    while rows and not any(rows[0][1]):
        rows.pop(0)
    header, kept, dropped = rows[0][1], [], []
    for line, cells in rows[1:]:
        if not any(cells):
            reason = "blank line"
        elif cells == header:
            reason = "repeated header"
        elif len(cells) != len(header):
            reason = f"expected {len(header)} cells, found {len(cells)}"
        else:
            reason = next((problem for name, cell in zip(header, cells) if (problem := _cell_problem(name, cell))),
                          None)
        if reason:
            dropped.append({"line": line, "reason": reason})
        else:
            kept.append(cells)
    counts = {"rows_read": len(rows) - 1, "rows_kept": len(kept), "rows_dropped": len(dropped), "dropped": dropped}
    return [header, *kept], counts


def _cell_problem(name: str, cell: str) -> str | None:
    if not cell:
        return f"blank cell in {name!r}"
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    return None if math.isfinite(value) else f"not a number in {name!r}: {cell!r}"


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def context(orch_cli, key: str):
    return json.loads(orch_cli("context", "show", key, "--json").assert_success().out)


def test_the_pack_ships_both_scripts_and_lists_them(orch_cli):
    listed = json.loads(orch_cli("steps", "list", "--json").assert_success().out)
    scripts = {row["name"]: row for row in listed if row["type"] == "shell" and row["plugin"] == "curriculum"}
    assert set(scripts) == {"sanitize_csv.sh", "enrich_csv.sh"}
    assert all(row["pack"] == "orchestrator-curriculum" and row["description"] for row in scripts.values())
    assert all(os.access(SCRIPTS / name, os.X_OK) for name in scripts)


def test_02_basic_mixed(orch_cli, tmp_path, sample_values):
    outcome = orch_cli("run", "02_basic_mixed").assert_success()
    assert [(line["step"], line["outputs"], line.get("artifact")) for line in outcome.lines] == [
        ("sanitize_csv", ["csv.sanitized_path_v1", "csv.sanitize_counts_v1"], "Data/numbers_sanitized.csv"),
        ("enrich_csv", ["csv.enriched_path_v1", "csv.enriched_columns_v1"], "Data/numbers_enriched.csv"),
        ("load_numbers", ["numbers.raw_v1"], None),
    ]
    assert "[sanitize_csv] sanitize_csv: reading" in outcome.err
    clean_rows, counts = sanitized_by_python(SAMPLE)
    assert context(orch_cli, "csv.sanitize_counts_v1") == counts
    assert (counts["rows_read"], counts["rows_dropped"]) == (24, 6)
    # The same rows, for the same reasons, as load_numbers skips when it reads the sample itself.
    assert counts["dropped"] == numbers_io.read_numbers(SAMPLE).skipped_rows
    sanitized = tmp_path / context(orch_cli, "csv.sanitized_path_v1")
    assert read_csv(sanitized) == clean_rows

    enriched = tmp_path / context(orch_cli, "csv.enriched_path_v1")
    assert enriched == tmp_path / "Data" / "numbers_enriched.csv"
    rows = read_csv(enriched)
    assert rows[0] == context(orch_cli, "csv.enriched_columns_v1") == [*clean_rows[0], "weighted", "value_scaled"]
    values = [float(row[0]) for row in clean_rows[1:]]
    low, high = min(values), max(values)
    for row, clean in zip(rows[1:], clean_rows[1:], strict=True):
        assert row[:3] == clean
        assert float(row[3]) == pytest.approx(float(clean[0]) * float(clean[1]), rel=1e-9)
        assert float(row[4]) == pytest.approx((float(clean[0]) - low) / (high - low), rel=1e-9, abs=1e-12)

    raw = context(orch_cli, "numbers.raw_v1")
    assert (raw["values"], raw["skipped"], raw["source"]) == (sample_values, 0, "Data/numbers_enriched.csv")
    history = json.loads(orch_cli("context", "show", "csv.sanitize_counts_v1", "--history", "--json").out)
    assert [(w["who"], w["step"]) for w in history] == [("sanitize_csv.sh", "sanitize_csv")]


DIRTY = (
    "\r\n"
    " a , b ,c\r\n"
    "1,2,3\r\n"
    "-.5, 1e3 ,+7.\r\n"
    "inf,1,2\r\n"
    "1e999,1,2\r\n"
    "x,1,2\r\n"
    ",,\r\n"
    "1,,2\r\n"
    "a,b,c\r\n"
    "1,2\r\n"
    "4,5,6,7\r\n"
    "\t8\t,9,10\r\n"
)


def test_sanitize_csv_on_a_file_of_the_users_drops_what_python_would(orch_cli, tmp_path):
    (tmp_path / "dirty.csv").write_text(DIRTY, encoding="utf-8", newline="")
    (tmp_path / "recipe.yaml").write_text(
        "steps:\n"
        "  - {name: clean, type: shell, script: sanitize_csv.sh, args: [--input, dirty.csv, --output, mine.csv]}\n"
        "  - {name: enrich, type: shell, script: enrich_csv.sh, inputs: [csv.sanitized_path_v1],\n"
        "     args: [--value, b, --weight, c]}\n")
    outcome = orch_cli("run", "recipe.yaml").assert_success()
    clean_rows, counts = sanitized_by_python(tmp_path / "dirty.csv")
    assert counts["rows_kept"] == 3 and counts["rows_dropped"] == 8
    assert context(orch_cli, "csv.sanitize_counts_v1") == counts
    assert context(orch_cli, "csv.sanitized_path_v1") == "Data/mine.csv"
    assert read_csv(tmp_path / "Data" / "mine.csv") == clean_rows
    enriched = read_csv(tmp_path / "Data" / "numbers_enriched.csv")
    assert [row[3] for row in enriched[1:]] == ["6", "7000", "90"]
    assert [float(row[4]) for row in enriched[1:]] == [0.0, 1.0, pytest.approx(7 / 998)]
    assert outcome.lines[0]["artifact"] == "Data/mine.csv"


def test_failures_are_error_json_from_the_script(orch_cli, tmp_path):
    (tmp_path / "recipe.yaml").write_text(
        "steps:\n"
        "  - {name: missing, type: shell, script: sanitize_csv.sh, args: [--input, nowhere.csv], depends_on: []}\n"
        "  - {name: no_input, type: shell, script: enrich_csv.sh, depends_on: []}\n"
        "  - {name: with_params, type: shell, script: sanitize_csv.sh, params: {path: x.csv}, depends_on: []}\n")
    outcome = orch_cli("run", "recipe.yaml", "--keep-going")
    assert outcome.exit_code == 1
    lines = {line["step"]: line for line in outcome.lines}
    assert (lines["missing"]["reason"], lines["missing"]["details"]["path"]) == (
        "CSV file not found: nowhere.csv", "nowhere.csv")
    assert lines["no_input"]["reason"].startswith("no input CSV: give --input PATH")
    assert lines["with_params"]["reason"].startswith("sanitize_csv.sh takes no params")
    assert lines["with_params"]["details"]["params"] == {"path": "x.csv"}
    assert {line["error_type"] for line in lines.values()} == {"nonzero_exit"}
    assert not (tmp_path / "Data").exists() or not list((tmp_path / "Data").iterdir())


def test_a_script_runs_by_hand_too(tmp_path):
    done = subprocess.run([str(SCRIPTS / "sanitize_csv.sh"), "--params", "{}"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=30, env={k: v for k, v in os.environ.items() if not k.startswith("ORCH_")})
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert line["ctx"]["csv.sanitized_path_v1"] == "Data/numbers_sanitized.csv"
    assert (tmp_path / "Data" / "numbers_sanitized.csv").is_file()


def test_the_wheel_ships_the_scripts_executable(tmp_path):
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(tmp_path),
                    str(PROJECT)], check=True, capture_output=True, timeout=120)
    (wheel,) = tmp_path.glob("orchestrator_curriculum-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        metadata = next(archive.read(n).decode() for n in modes if n.endswith(".dist-info/METADATA"))
    for name in ("sanitize_csv.sh", "enrich_csv.sh"):
        assert modes[f"orchestrator_curriculum/scripts/{name}"] & 0o111 == 0o111, name
    assert "orchestrator_curriculum/scripts/_contract.sh" in modes
    assert "Requires-Dist: orchestrator-shell-steps" in metadata


def test_02_basic_mixed_with_another_data_directory(orch_cli, tmp_path, sample_values):
    outcome = orch_cli("run", "02_basic_mixed", "--data-dir", "elsewhere").assert_success()
    assert [line.get("artifact") for line in outcome.lines[:2]] == [
        "elsewhere/numbers_sanitized.csv", "elsewhere/numbers_enriched.csv"]
    raw = context(orch_cli, "numbers.raw_v1")
    assert (raw["values"], raw["source"]) == (sample_values, "elsewhere/numbers_enriched.csv")
    assert not (tmp_path / "Data").exists()
