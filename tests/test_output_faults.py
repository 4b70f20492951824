"""Outputs that cannot be written, through real ``orch`` processes: nothing reports success, nothing
prints a traceback.

Standard descriptors closed at start (``>&-``, as cron and daemons may leave them) are written
to ``/dev/null``: the run works and its JSON lines land in no file that happened to take fd 1.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from orchestrator_core.testing import orch_executable

RECIPE = "06_parallel_fan_in"  # six steps: a chain, a fan of three, their aggregate


def environment() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("ORCH_STATE_DIR", "ORCH_LOG_LEVEL", "ORCH_TRACEBACK"):
        env.pop(name, None)
    return env


def orch(cwd: Path, *args: str, stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess:
    """``orch ARGS`` in ``cwd``, its stdout where ``stdout`` says (a pipe by default)."""
    return subprocess.run([orch_executable(), *args], cwd=cwd, env=environment(), stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def with_closed(cwd: Path, redirections: str, *args: str) -> subprocess.CompletedProcess:
    """``orch ARGS`` started by a shell with ``redirections`` (``>&-`` closes fd 1, ``2>&-`` fd 2)."""
    command = " ".join(map(shlex.quote, [orch_executable(), *args]))
    return subprocess.run(["sh", "-c", f"exec {command} {redirections}"], cwd=cwd, env=environment(),
                          capture_output=True, text=True, timeout=120)


def shown(cwd: Path) -> dict:
    """``orch runs show --json`` of the latest run."""
    listed = orch(cwd, "runs", "show", "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def event_lines(path: Path) -> list[dict]:
    """The events of ``path``, each line checked to be a whole ``orch.event/1`` record."""
    text = path.read_text()
    assert text.endswith("\n"), text[-200:]
    records = [json.loads(line) for line in text.splitlines()]
    assert all(record["schema"] == "orch.event/1" for record in records)
    return records


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A folder where the recipe ran once (so the listings, context and report have something to show)."""
    where = tmp_path_factory.mktemp("recorded")
    assert orch(where, "run", RECIPE, "--no-progress").returncode == 0
    return where


# -- standard descriptors closed at start ----------------------------------------------------------
def test_a_run_with_stdout_closed_runs_and_its_lines_land_in_no_file(tmp_path):
    done = with_closed(tmp_path, ">&-", "run", RECIPE, "--no-progress", "--events", "ev.jsonl")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and done.stderr == ""
    run = shown(tmp_path)
    assert run["status"] == "ok" and len(run["steps"]) == 6
    assert [r["event"] for r in event_lines(tmp_path / "ev.jsonl")].count("step_finish") == 6
    assert orch(tmp_path, "doctor").returncode == 0  # the store took no stray line either


def test_a_run_with_stderr_closed_prints_its_lines_and_is_recorded(tmp_path):
    done = with_closed(tmp_path, "2>&-", "run", RECIPE, "--events", "ev.jsonl")
    assert done.returncode == 0
    assert [json.loads(line)["step"] for line in done.stdout.splitlines()] == [
        "load_numbers", "normalize_numbers", "compute_mean", "compute_median", "compute_std", "aggregate_metrics"]
    assert shown(tmp_path)["status"] == "ok"
    assert event_lines(tmp_path / "ev.jsonl")[-1]["event"] == "run_finish"


def test_a_run_with_every_standard_descriptor_closed_is_recorded(tmp_path):
    done = with_closed(tmp_path, "<&- >&- 2>&-", "run", RECIPE, "--events", "ev.jsonl")
    assert done.returncode == 0
    run = shown(tmp_path)
    assert run["status"] == "ok" and len(run["steps"]) == 6
    assert event_lines(tmp_path / "ev.jsonl")[-1]["status"] == "ok"


@pytest.mark.parametrize("redirections", [">&-", "2>&-"])
def test_a_listing_with_a_closed_descriptor_ends_cleanly(recorded, redirections):
    done = with_closed(recorded, redirections, "runs", "list")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    if redirections == "2>&-":
        assert RECIPE in done.stdout
