"""What a user gets from PyPI: the built wheels (not editable) in a new venv run the main job."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]
# Every distribution of the tree but the Dask executor, whose dependencies are a large download
# and which the curriculum does not need.
DISTRIBUTIONS = [REPOSITORY] + sorted(p.parent for p in (REPOSITORY / "plugins").glob("*/pyproject.toml")
                                      if p.parent.name != "orchestrator_dask")


@pytest.mark.slow
def test_built_wheels_in_a_new_venv_run_the_main_job_from_an_empty_directory(tmp_path):
    wheels = tmp_path / "wheels"
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(wheels),
                    *map(str, DISTRIBUTIONS)], check=True, capture_output=True, timeout=300)
    built = sorted(wheels.glob("*.whl"))
    assert len(built) == len(DISTRIBUTIONS)

    venv.create(tmp_path / "venv", with_pip=True)
    python, orch = tmp_path / "venv" / "bin" / "python", tmp_path / "venv" / "bin" / "orch"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", *map(str, built)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    run = subprocess.run([str(orch), "run", "12_advanced_full"], cwd=empty, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(lines) == 12 and all(line["status"] == "ok" for line in lines)
    assert lines[10]["step"] == "generate_report" and lines[10]["artifact"] == "Data/report.md"
    assert (empty / "Data" / "report.md").is_file() and (empty / "Data" / "metrics_summary.xlsx").is_file()
    assert not (empty / "orchestrator_curriculum").exists()  # nothing came from the source tree
    listed = subprocess.run([str(orch), "recipes", "list", "--json"], cwd=empty, capture_output=True, text=True,
                            check=True, timeout=60).stdout
    main_job = next(r for r in json.loads(listed) if r["name"] == "12_advanced_full")
    assert Path(main_job["path"]).is_relative_to(tmp_path / "venv")  # the wheel's copy, not the tree's
