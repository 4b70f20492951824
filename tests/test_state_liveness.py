"""Whether a recorded run is alive is its lock, not its process id (PID namespaces, PID reuse)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator_core.state.liveness import RunLock, lock_path, run_alive
from orchestrator_core.testing import orch_executable

SCRIPTLETS = Path(__file__).with_name("test_state_scriptlets.py")

GATED = """
name: gated
steps:
  - {name: a, module: steps, function: Emit, params: {values: {t.a_v1: 1}}}
  - {name: g, module: steps, function: Gate, params: {gate: gate.flag, value: 3}, depends_on: [a]}
"""


def a_dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_held_lock_is_alive_and_a_free_one_is_not_whatever_the_pid(tmp_path):
    lock = RunLock.acquire(tmp_path, "run-1")
    try:
        assert run_alive(tmp_path, "run-1", a_dead_pid())
    finally:
        lock.release()
    assert not lock_path(tmp_path, "run-1").exists()
    lock_path(tmp_path, "run-2").write_text("12345\n")  # left by a process that died holding it
    assert not run_alive(tmp_path, "run-2", os.getpid())
    # a run recorded by an orch that took no lock: the process id is all there is
    assert run_alive(tmp_path, "run-3", os.getpid()) and not run_alive(tmp_path, "run-3", a_dead_pid())


@pytest.fixture
def gated(tmp_path, monkeypatch):
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    shutil.copy(SCRIPTLETS, tmp_path / "steps.py")
    (tmp_path / "gated.yaml").write_text(GATED)
    (tmp_path / "gate.flag").write_text("wait")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([orch_executable(), "run", "gated.yaml", "--no-progress"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    calls = tmp_path / "calls.log"
    while "g" not in (calls.read_text().split() if calls.exists() else []):
        assert time.monotonic() < deadline and proc.poll() is None, "step g never started"
        time.sleep(0.05)
    yield tmp_path, proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def set_pid(db: Path, pid: int) -> None:
    conn = sqlite3.connect(db)
    conn.execute("UPDATE runs SET pid = ?", (pid,))
    conn.commit()
    conn.close()


def listed(workdir: Path) -> dict:
    done = subprocess.run([orch_executable(), "runs", "list", "--json"], cwd=workdir, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "ORCH_STATE_DIR"})
    assert done.returncode == 0, done.stderr
    (run,) = json.loads(done.stdout)
    return run


def test_a_running_run_shows_running_though_its_recorded_pid_is_not_a_process_here(gated):
    workdir, proc = gated
    set_pid(workdir / ".orch" / "state.db", a_dead_pid())  # as seen from another PID namespace
    assert listed(workdir)["status"] == "running"
    (workdir / "gate.flag").unlink()
    assert proc.wait(timeout=60) == 0
    assert listed(workdir)["status"] == "ok"
    assert list((workdir / ".orch" / "locks").iterdir()) == []


def test_a_killed_run_shows_killed_though_its_recorded_pid_is_a_live_process(gated):
    workdir, proc = gated
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    set_pid(workdir / ".orch" / "state.db", os.getpid())  # the PID was reused by a live process
    assert listed(workdir)["status"] == "killed"
