"""Faults of the state store, through real ``orch`` processes: a run whose recording fails is not a
success, a damaged store gives one line (never a traceback) on every command, a read-only one reads.

The full disk is a 2 MB tmpfs and the read-only store a read-only bind mount, each in a
mount namespace of its own (``unshare -m``: root, as in CI); everything the test looks
at is checked inside that namespace, where the mount is.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from orch_test_helpers import in_mount_namespace
from orchestrator_core.testing import orch_executable

SCRIPTLETS = Path(__file__).with_name("test_state_scriptlets.py")

TWO_STEPS = """
name: two
steps:
  - {name: a, module: steps, function: Emit, params: {values: {t.a_v1: 1}}}
  - {name: total, module: steps, function: Sum, params: {keys: [t.a_v1]}, depends_on: [a]}
"""


def big_writes(sleep: float) -> str:
    """30 steps of 200 kB each; steps of 2 ms are recorded one commit each, quicker ones in groups."""
    return "name: big\nsteps:\n" + "".join(
        f"  - {{name: s{i}, module: steps, function: Emit,"
        f" params: {{sleep: {sleep}, values: {{t.b_v1: '{'x' * 200_000}'}}}}}}\n"
        for i in range(30)
    )


GATED = """
name: gated
steps:
  - {name: a, module: steps, function: Emit, params: {values: {t.a_v1: 1}}}
  - {name: g, module: steps, function: Gate, params: {gate: gate.flag, value: 3}, depends_on: [a]}
  - {name: total, module: steps, function: Sum, params: {keys: [t.a_v1, t.c_v1]}, depends_on: [g]}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    shutil.copy(SCRIPTLETS, tmp_path / "steps.py")
    files = {"two.yaml": TWO_STEPS, "big.yaml": big_writes(0.002), "big-quick.yaml": big_writes(0), "gated.yaml": GATED}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def orch(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH", "")]))
    env.pop("ORCH_STATE_DIR", None)
    env.pop("ORCH_LOG_LEVEL", None)
    return subprocess.run([orch_executable(), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def one_error_line(stderr: str) -> str:
    """The single ``orch: error:`` line of ``stderr`` (and nothing that looks like a traceback)."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("orch: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def steps_in(db: Path, run_id: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return sorted(step for (step,) in conn.execute("SELECT step FROM step_results WHERE run = ?", (run_id,)))
    finally:
        conn.close()


# -- a recording that fails stops the run ------------------------------------------------------
@pytest.mark.parametrize("recipe", ["big.yaml", "big-quick.yaml"])
def test_a_full_disk_stops_the_run_and_every_step_printed_ok_is_recorded(project, recipe):
    orch_bin = shlex.quote(orch_executable())
    done = in_mount_namespace(f"""
        mkdir -p .orch
        mount -t tmpfs -o size=2m tmpfs .orch
        set +e
        {orch_bin} run {recipe} > out.jsonl 2> err.txt
        echo $? > status.txt
        cp .orch/state.db* . 2>/dev/null
        {orch_bin} runs list --json > runs.json 2> runs-err.txt
    """, project)
    assert done.returncode == 0, done.stderr
    status = int((project / "status.txt").read_text())
    stderr = (project / "err.txt").read_text()
    assert status == 1, stderr
    line = one_error_line(stderr)
    assert "disk is full" in line and "could not be recorded" in line and "recorded as error" in line
    printed_ok = sorted(entry["step"] for entry in map(json.loads, (project / "out.jsonl").read_text().splitlines())
                        if entry["status"] == "ok")
    assert len(printed_ok) < 30  # the disk filled part-way, and the run stopped there
    if recipe == "big.yaml":  # a commit per step: those before the disk filled were recorded and printed
        assert printed_ok
    (run,) = json.loads((project / "runs.json").read_text())
    assert run["status"] == "error"
    assert steps_in(project / "state.db", run["id"]) == printed_ok
    # the summary counts as ok only what was recorded; the group the store refused is named apart
    summary = [text for text in stderr.splitlines() if text.startswith(f"orch: run {run['id']} error: ")]
    assert len(summary) == 1, stderr
    assert f"error: {len(printed_ok)} ok, 0 failed, " in summary[0] and "finished but not recorded" in summary[0]


def test_a_store_deleted_mid_run_stops_the_run_and_says_nothing_is_recorded(project):
    (project / "gate.flag").write_text("wait")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([orch_executable(), "run", "gated.yaml", "--no-progress"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while "g" not in ((project / "calls.log").read_text().split() if (project / "calls.log").exists() else []):
            assert time.monotonic() < deadline and proc.poll() is None, "step g never started"
            time.sleep(0.05)
        shutil.rmtree(project / ".orch")
        (project / "gate.flag").unlink()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    line = one_error_line(err)
    assert "was deleted or replaced during the run" in line and "nothing of the run is recorded" in line
    assert [entry["step"] for entry in map(json.loads, out.splitlines())] == ["a"]  # total never ran
    assert not (project / ".orch" / "state.db").exists()


# -- a damaged store: one line, exit 2, on every command -------------------------------------------
def _scramble_from_page_3(db: Path) -> None:
    data = bytearray(db.read_bytes())
    for i in range(2 * 4096, len(data)):
        data[i] = (data[i] * 7 + 13) % 256
    db.write_bytes(bytes(data))


def _sql(statement: str):
    def damage(db: Path) -> None:
        conn = sqlite3.connect(db)
        conn.execute(statement)
        conn.commit()
        conn.close()
    return damage


def _directory(db: Path) -> None:
    db.unlink()
    db.mkdir()


DAMAGE = {
    "not a database": lambda db: db.write_bytes(os.urandom(3 * 4096)),
    "malformed image": _scramble_from_page_3,
    "truncated": lambda db: db.write_bytes(db.read_bytes()[:4096 + 100]),
    "missing table": _sql("DROP TABLE runs"),
    "bad JSON in a value": _sql("UPDATE context_writes SET value = '{bad'"),
    "bad JSON in flags": _sql("UPDATE runs SET flags = '{'"),
    "a directory": _directory,
}
# What each command reads: a kind of damage it never touches lets it work (exit 0).
WORKS = {("bad JSON in a value", "runs list"), ("bad JSON in a value", "run"), ("bad JSON in flags", "run")}
COMMANDS = {
    "runs list": ("runs", "list"),
    "context show": ("context", "show"),
    "run": ("run", "two.yaml", "--no-progress"),
    "--resume-from": ("run", "two.yaml", "--no-progress", "--resume-from", "total"),
}


@pytest.fixture(scope="module")
def recorded_store(tmp_path_factory) -> Path:
    """A sound store with two runs of ``two.yaml``, its log folded in (no -wal file)."""
    where = tmp_path_factory.mktemp("recorded")
    shutil.copy(SCRIPTLETS, where / "steps.py")
    (where / "two.yaml").write_text(TWO_STEPS)
    for _ in range(2):
        assert orch(where, "run", "two.yaml", "--no-progress").returncode == 0
    db = where / ".orch" / "state.db"
    assert db.exists() and not Path(f"{db}-wal").exists()
    assert db.stat().st_size > 3 * 4096
    return db


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_store_gives_one_line_and_exit_2_on_every_command(project, recorded_store, kind, command):
    db = project / ".orch" / "state.db"
    db.parent.mkdir()
    shutil.copy(recorded_store, db)
    DAMAGE[kind](db)
    done = orch(project, *COMMANDS[command])
    assert "Traceback" not in done.stderr, done.stderr
    if (kind, command) in WORKS:
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 2, done.stderr
    line = one_error_line(done.stderr)
    assert str(db) in line and f"orch doctor --state-dir {db.parent}" in line, line
    assert done.stdout == ""  # no step ran


def test_read_commands_work_on_a_read_only_store_and_a_run_there_stops_before_it_starts(project):
    assert orch(project, "run", "two.yaml", "--no-progress").returncode == 0
    before = sorted(p.name for p in (project / ".orch").iterdir())
    orch_bin = shlex.quote(orch_executable())
    done = in_mount_namespace(f"""
        mount --bind .orch .orch
        mount -o remount,bind,ro .orch
        set +e
        {orch_bin} runs list --json > runs.json 2> runs-err.txt; echo $? > runs-status.txt
        {orch_bin} context show --json > context.json 2> context-err.txt; echo $? > context-status.txt
        {orch_bin} run two.yaml --no-progress > run-out.txt 2> run-err.txt; echo $? > run-status.txt
    """, project)
    assert done.returncode == 0, done.stderr
    read = lambda name: (project / name).read_text()  # noqa: E731
    assert read("runs-status.txt").strip() == "0", read("runs-err.txt")
    (run,) = json.loads(read("runs.json"))
    assert run["status"] == "ok" and run["steps"] == {"ok": 2}
    assert read("context-status.txt").strip() == "0", read("context-err.txt")
    assert json.loads(read("context.json"))["t.sum_v1"] == 1
    assert read("run-status.txt").strip() == "2" and read("run-out.txt") == ""
    assert "read-only" in one_error_line(read("run-err.txt"))
    assert sorted(p.name for p in (project / ".orch").iterdir()) == before


def test_opening_to_read_changes_nothing_in_the_file(project):
    """A read needs no write: no switch of journal mode, no migration, the bytes stay the same."""
    assert orch(project, "run", "two.yaml", "--no-progress").returncode == 0
    db = project / ".orch" / "state.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    before = db.read_bytes()
    assert orch(project, "runs", "list").returncode == 0
    assert orch(project, "context", "show").returncode == 0
    assert db.read_bytes() == before


OTHER_COMMANDS = {
    "runs show": ("runs", "show"),
    "runs diff": ("runs", "diff", "latest", "latest"),
    "why": ("why", "two.yaml", "total"),
    "--dry-run": ("run", "two.yaml", "--dry-run"),
    "--only": ("run", "two.yaml", "--no-progress", "--only", "total"),
    "steps check": ("steps", "check"),
    "serve": ("serve", "--port", "0"),
}


@pytest.mark.parametrize("command", list(OTHER_COMMANDS))
@pytest.mark.parametrize("kind", ["not a database", "malformed image", "a directory"])
def test_every_other_command_that_reads_the_store_says_it_is_damaged_in_one_line(project, recorded_store, kind,
                                                                                  command):
    db = project / ".orch" / "state.db"
    db.parent.mkdir()
    shutil.copy(recorded_store, db)
    DAMAGE[kind](db)
    done = orch(project, *OTHER_COMMANDS[command], timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"orch doctor --state-dir {db.parent}" in one_error_line(done.stderr)


def test_a_run_the_store_refuses_is_not_announced_as_a_run(project, recorded_store):
    """With progress on: no run id, no summary of a run the store never held; its error alone."""
    db = project / ".orch" / "state.db"
    db.parent.mkdir()
    db.write_bytes(b"not a database at all")
    done = orch(project, "run", "two.yaml", "--progress")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [one_error_line(done.stderr)]
    assert "orch: run " not in done.stderr
