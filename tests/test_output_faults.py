"""Outputs that cannot be written, through real ``orch`` processes: nothing reports success, nothing
prints a traceback.

stdout on a full device (``/dev/full``) is one ``orch: error:`` line and exit status 1 on every
command, and stops a run, recorded as ``error`` with that reason. Standard descriptors closed
at start (``>&-``, as cron and daemons may leave them) are written to ``/dev/null``: the run
works and its JSON lines land in no file that happened to take fd 1. An ``--events`` file on a
full disk (a 4 kB tmpfs in a mount namespace of its own, as the state store's full-disk tests
do) lets the steps finish, ends the run as ``error`` (exit 1) with the reason, and keeps only
whole lines; ``run_recipe`` raises with that reason in-process.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from orch_test_helpers import in_mount_namespace
from orchestrator_core.testing import orch_executable

pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="/dev/full is a Linux device")

RECIPE = "06_parallel_fan_in"  # six steps: a chain, a fan of three, their aggregate
NO_SPACE = "orch: error: cannot write to stdout: No space left on device"


def environment() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("ORCH_STATE_DIR", "ORCH_LOG_LEVEL", "ORCH_TRACEBACK"):
        env.pop(name, None)
    return env


def orch(cwd: Path, *args: str, stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess:
    """``orch ARGS`` in ``cwd``, its stdout where ``stdout`` says (a pipe by default)."""
    return subprocess.run([orch_executable(), *args], cwd=cwd, env=environment(), stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def to_full_device(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    with open("/dev/full", "w") as full:
        return orch(cwd, *args, stdout=full)


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


# -- stdout on a full device ---------------------------------------------------------------------
def test_a_run_whose_stdout_is_full_stops_and_is_recorded_as_error_with_the_reason(tmp_path):
    done = to_full_device(tmp_path, "run", RECIPE)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == NO_SPACE, done.stderr
    assert "error: 1 ok, 0 failed, 5 not run" in done.stderr  # the summary: the run stopped at its first line
    run = shown(tmp_path)
    assert run["status"] == "error"
    assert run["reason"] == "cannot write to stdout: No space left on device"
    assert [s["step"] for s in run["steps"]] == ["load_numbers"] and len(run["not_run"]) == 5
    text = orch(tmp_path, "runs", "show").stdout
    assert "reason    cannot write to stdout: No space left on device" in text


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A folder where the recipe ran once (so the listings, context and report have something to show)."""
    where = tmp_path_factory.mktemp("recorded")
    assert orch(where, "run", RECIPE, "--no-progress").returncode == 0
    return where


@pytest.mark.parametrize("command", [
    ("runs", "list"), ("runs", "list", "--json"), ("runs", "show"), ("recipes", "list"), ("steps", "list"),
    ("plugins", "list"), ("context", "show", "metrics.aggregate_v1"), ("graph", RECIPE), ("validate", RECIPE),
    ("step", "run", "load_numbers", "--params", "{}"), ("report",), ("why", RECIPE, "compute_mean"),
    ("run", RECIPE, "--dry-run"), ("--version",), ("--help",),
], ids=" ".join)
def test_every_command_says_in_one_line_that_stdout_could_not_be_written(recorded, command):
    done = to_full_device(recorded, *command)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == NO_SPACE, done.stderr
    assert done.stderr.count("orch: error:") == 1, done.stderr


def test_a_reader_that_goes_away_still_does_not_stop_the_run(tmp_path):
    proc = subprocess.Popen([orch_executable(), "run", RECIPE, "--no-progress"], cwd=tmp_path, env=environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader leaves before the first line
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0, err
    assert "stdout was closed by its reader" in err and "orch: error" not in err
    run = shown(tmp_path)
    assert run["status"] == "ok" and run["reason"] is None and len(run["steps"]) == 6


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


def test_a_full_stderr_loses_the_progress_lines_not_the_run_nor_the_exit_status(tmp_path):
    """Progress and messages are for a reader: a stderr on a full disk (``2>>orch.log``) does not
    stop the work, and each exit status stays the one its message went with."""
    def with_full_stderr(*args: str) -> subprocess.CompletedProcess:
        with open("/dev/full", "w") as full:
            return subprocess.run([orch_executable(), *args], cwd=tmp_path, env=environment(),
                                  stdout=subprocess.PIPE, stderr=full, text=True, timeout=120)

    done = with_full_stderr("run", RECIPE)
    assert done.returncode == 0
    assert len([json.loads(line) for line in done.stdout.splitlines()]) == 6
    assert shown(tmp_path)["status"] == "ok"
    assert with_full_stderr("run", "nothere.yaml").returncode == 2  # a usage error, said or not
    assert with_full_stderr("runs", "show", "nope").returncode == 2


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


# -- an events file on a full disk -----------------------------------------------------------------
def test_an_events_file_on_a_full_disk_ends_the_run_as_error_and_keeps_whole_lines(tmp_path):
    orch_bin = shlex.quote(orch_executable())
    done = in_mount_namespace(f"""
        mkdir -p full
        mount -t tmpfs -o size=4k tmpfs full
        set +e
        {orch_bin} run 12_advanced_full --events full/ev.jsonl > out.jsonl 2> err.txt
        echo $? > status.txt
        cp full/ev.jsonl ev.jsonl
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    stderr = (tmp_path / "err.txt").read_text()
    assert int((tmp_path / "status.txt").read_text()) == 1, stderr
    assert "Traceback" not in stderr
    reason = ("the events file full/ev.jsonl could not be written (No space left on device): "
              "it ends with the last event written whole")
    assert stderr.splitlines()[-1] == f"orch: error: {reason}", stderr
    assert "error: 12 ok, 0 failed" in stderr  # every step ran: the log, not the run, ran out of room
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 12
    written = event_lines(tmp_path / "ev.jsonl")  # whole lines only, though the disk filled mid-line
    assert written[0]["event"] == "run_start" and written[-1]["event"] != "run_finish"
    assert len((tmp_path / "ev.jsonl").read_bytes()) <= 4096
    run = shown(tmp_path)
    assert run["status"] == "error" and run["reason"] == reason and len(run["steps"]) == 12


@pytest.mark.parametrize("target, reason", [
    ("/dev/full", "the events file /dev/full could not be written (No space left on device): "
                  "it ends with the last event written whole"),
    ("missing/ev.jsonl", "the events file {tmp}/missing/ev.jsonl could not be opened (No such file or directory)"),
])
def test_run_recipe_with_an_events_file_it_cannot_write_raises_with_the_reason(tmp_path, monkeypatch, target, reason):
    import io

    from orchestrator_core import StepFailedError, run_recipe

    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    lines = io.StringIO()
    events = target if target.startswith("/") else tmp_path / target
    with pytest.raises(StepFailedError) as caught:
        run_recipe(RECIPE, workdir=tmp_path, events=events, stdout=lines)
    result = caught.value.result
    assert result.status == "error" and result.reason == reason.format(tmp=tmp_path)
    assert len(result.steps) == 6 and all(step.ok for step in result.steps.values())  # every step still ran
    assert str(caught.value) == f"the run failed: {result.reason}"
    assert len(lines.getvalue().splitlines()) == 6
