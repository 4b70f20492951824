"""What a user gets from PyPI: every distribution's sdist builds, the wheels are built from the
sdists (so the sdists are complete), and ``pip install orchestrator-curriculum`` alone, into a new
venv, runs the guide's recipes from an empty directory.

Only the project's own distributions come from the wheels built here; their third-party
dependencies come from the package index pip is configured with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]
DISTRIBUTIONS = [REPOSITORY] + sorted(p.parent for p in (REPOSITORY / "plugins").glob("*/pyproject.toml"))
STEP_MODULES = sorted(p.name for p in (REPOSITORY / "plugins/orchestrator_curriculum/orchestrator_curriculum/steps")
                      .glob("*.py"))
# What `pip install orchestrator-curriculum` must bring: the curriculum and every plugin its recipes use.
PULLED = {"orchestrator-curriculum", "orchestrator-framework", "orchestrator-process", "orchestrator-reporting",
          "orchestrator-shell-steps"}


def hatchling(target: str, projects: list[Path], out: Path) -> list[Path]:
    """Build ``target`` (sdist or wheel) of every project into ``out`` with hatchling, the builds
    side by side; the files built, in the order of ``projects``."""
    out.mkdir(parents=True, exist_ok=True)
    builds = [subprocess.Popen([sys.executable, "-m", "hatchling", "build", "-t", target, "-d", str(out / str(i))],
                               cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for i, project in enumerate(projects)]
    built = []
    for i, (project, build) in enumerate(zip(projects, builds)):
        output, _ = build.communicate(timeout=300)
        assert build.returncode == 0, f"{target} of {project.name}:\n{output}"
        (artifact,) = (out / str(i)).iterdir()
        built.append(artifact.rename(out / artifact.name))
    return built


def build_sdists_then_wheels(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    """Every distribution's sdist, and its wheel built from the unpacked sdist (as pip would)."""
    sdists = hatchling("sdist", DISTRIBUTIONS, tmp_path / "sdists")
    unpacked = []
    for sdist in sdists:
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp_path / "unpacked", filter="data")
        unpacked.append(tmp_path / "unpacked" / sdist.name.removesuffix(".tar.gz"))
    return sdists, hatchling("wheel", unpacked, tmp_path / "wheels")


def orch_in(venv_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "PYTHON", "VIRTUAL_ENV"))}
    env["ORCH_CACHE_DIR"] = str(venv_dir.parent / "orch-cache")  # read recipes stay out of ~/.cache/orch
    return subprocess.run([str(venv_dir / "bin" / "orch"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_pip_install_orchestrator_curriculum_alone_runs_the_guide_from_an_empty_directory(tmp_path):
    sdists, wheels = build_sdists_then_wheels(tmp_path)
    assert len(sdists) == len(wheels) == len(DISTRIBUTIONS)
    for sdist in sdists:
        with tarfile.open(sdist) as archive:
            top = sdist.name.removesuffix(".tar.gz")
            assert f"{top}/LICENSE" in archive.getnames(), sdist.name
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            assert any(n.endswith(".dist-info/licenses/LICENSE") for n in archive.namelist()), wheel.name
    (curriculum_wheel,) = [w for w in wheels if w.name.startswith("orchestrator_curriculum-")]
    with zipfile.ZipFile(curriculum_wheel) as archive:
        names = set(archive.namelist())
    recipes = {p.name for p in (REPOSITORY / "recipes").glob("*.yaml")}
    assert {f"orchestrator_curriculum/recipes/{name}" for name in recipes} <= names
    assert {f"orchestrator_curriculum/steps/{name}" for name in STEP_MODULES} <= names
    assert {"orchestrator_curriculum/data/numbers.csv", "orchestrator_curriculum/plugin.py"} <= names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]

    # A venv without pip of its own (pip installs into it from outside) and no byte-compiling at
    # install time: quicker, and the same files.
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile",
                                "--find-links", str(wheels[0].parent), "orchestrator-curriculum"],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    listed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "list", "--format", "json"],
                            capture_output=True, text=True, check=True, timeout=120).stdout
    versions = {p["name"]: p["version"] for p in json.loads(listed) if p["name"].startswith("orchestrator-")}
    assert set(versions) == PULLED, versions  # the dask executor is not needed, so not installed
    assert set(versions.values()) == {wheels[0].name.split("-")[1]}

    empty = tmp_path / "empty"
    empty.mkdir()
    cpu = orch_in(target, "run", "07_cpu_process", "--no-progress", cwd=empty)
    assert cpu.returncode == 0, cpu.stderr
    assert "requires a process" not in cpu.stderr
    metrics = json.loads(orch_in(target, "context", "show", "_runner.step_metrics_v1", cwd=empty).stdout)
    assert metrics["prime_factor_analysis"]["executor"] == "process"
    assert metrics["prime_factor_analysis"]["status"] == "ok"

    run = orch_in(target, "run", "12_advanced_full", "--no-progress", cwd=empty)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(lines) == 12 and all(line["status"] == "ok" for line in lines)
    assert lines[10]["step"] == "generate_report" and lines[10]["artifact"] == "Data/report.md"
    assert (empty / "Data" / "report.md").is_file() and (empty / "Data" / "metrics_summary.xlsx").is_file()
    assert not (empty / "orchestrator_curriculum").exists()  # nothing came from the source tree
    found = orch_in(target, "recipes", "list", "--json", cwd=empty)
    main_job = next(r for r in json.loads(found.stdout) if r["name"] == "12_advanced_full")
    assert Path(main_job["path"]).is_relative_to(target)  # the wheel's copy, not the tree's
