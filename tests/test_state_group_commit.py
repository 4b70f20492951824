"""Group commit: finished steps are recorded a group per transaction, and reported only once it committed.

What must hold (docs/state.md, "Group commit"): every step reported as finished (its
JSON line, ``orch_after_step``/``orch_on_step_error``) is in the store, also after a
``kill -9``; quick steps on the runner's thread share commits; a step that may take a
while does not hold back the lines of the steps before it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from orchestrator_core import hookimpl
from orchestrator_core.run.reports import REPORT_BATCH
from orchestrator_core.testing import orch_executable

STEPS = r'''
import time
from pathlib import Path
from orchestrator_core import BaseScriptlet


class Quick(BaseScriptlet):
    name = "gc_quick"
    outputs = ()

    def run(self, ctx, params):
        pass


class Write(BaseScriptlet):
    """Writes params ``values``; with ``client``, also writes ``client`` to the run as a client of ``orch serve`` would."""

    name = "gc_write"
    outputs = None

    def run(self, ctx, params):
        for key, value in params.get("values", {}).items():
            ctx.set(key, value)
        if "client" in params:
            import json
            from orchestrator_core.state.store import StateStore

            store = StateStore.open(Path(ctx.workdir) / ".orch")
            try:
                store.record_external_write(ctx.run_id, "t.k_v1", json.dumps(params["client"]), "client",
                                            "2026-01-01T00:00:00.000Z", "{}")
            finally:
                store.close()


class Logged(Quick):
    """Appends its step's name to ``calls.log``: the proof that it ran."""

    name = "gc_logged"

    def run(self, ctx, params):
        with open(Path(ctx.workdir) / "calls.log", "a", encoding="utf-8") as log:
            log.write(ctx.step + "\n")


class Gated(BaseScriptlet):
    """Waits while the file params ``gate`` exists (at most 60 s)."""

    name = "gc_gated"
    outputs = ()

    def run(self, ctx, params):
        gate = Path(ctx.workdir) / params["gate"]
        end = time.monotonic() + 60
        while gate.exists() and time.monotonic() < end:
            time.sleep(0.01)
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    (tmp_path / "gc_steps.py").write_text(STEPS)
    return tmp_path


def popen(project: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")]))
    env.pop("ORCH_LOG_LEVEL", None)
    return subprocess.Popen([orch_executable(), *args], cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def recorded(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [step for (step,) in conn.execute("SELECT step FROM step_results")]
    finally:
        conn.close()


def chain(n: int, function: str = "Quick") -> str:
    return "name: long\nsteps:\n" + "".join(
        f"  - {{name: q{i}, module: gc_steps, function: {function}}}\n" for i in range(n))


def test_after_kill_9_in_a_long_chain_every_printed_step_is_in_the_store(project):
    steps = 20_000
    (project / "long.yaml").write_text(chain(steps))
    proc = popen(project, "run", "long.yaml", "--no-progress")
    printed: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            printed.append(json.loads(line)["step"])
            if len(printed) == 1500:
                os.killpg(proc.pid, signal.SIGKILL)
                break
        printed += [json.loads(line)["step"] for line in proc.stdout.read().splitlines()
                    if line.endswith("}")]  # the last line may have been cut by the kill
        proc.wait(timeout=10)
    finally:
        stop(proc)
    assert proc.returncode == -signal.SIGKILL
    stored = recorded(project / ".orch" / "state.db")
    assert len(printed) >= 1500 and len(stored) < steps, "killed half-way"
    assert set(printed) <= set(stored)  # every step reported as finished survived the kill
    # Committed but not printed: at most the group whose lines were being written when it died.
    assert len(set(stored) - set(printed)) <= REPORT_BATCH


def test_ctrl_c_records_and_reports_the_steps_that_finished_before_it(project):
    steps = 20_000
    (project / "long.yaml").write_text(chain(steps, "Logged"))
    calls = project / "calls.log"
    proc = popen(project, "run", "long.yaml", "--no-progress")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    try:
        reader.start()  # stdout is drained all along: the run is never held up by a full pipe
        deadline = time.monotonic() + 60
        while not calls.exists() or calls.stat().st_size < 2000 * len("q1000\n"):
            assert time.monotonic() < deadline and proc.poll() is None, "the chain did not get going"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        reader.join(timeout=10)
    finally:
        stop(proc)
    printed = [json.loads(line)["step"] for line in lines]
    called = calls.read_text().split()
    stored = recorded(project / ".orch" / "state.db")
    assert len(called) < steps, "interrupted half-way"
    assert set(printed) <= set(stored)
    # Every step that finished is recorded (but the one Ctrl-C cut short, if it landed in a
    # step) and reported (but one whose reporting Ctrl-C cut short, if it landed there).
    assert len(set(called) - set(stored)) <= 1
    assert len(set(stored) - set(printed)) <= 1


def test_a_reporter_hears_of_a_step_only_once_the_store_has_it(sample_pm, register_plugin, run_orch_recipe,
                                                                tmp_path):
    class StoreWatcher:
        """Reads the store from another connection whenever a step is reported."""

        def __init__(self):
            self.missing: list[str] = []
            self.reported: list[str] = []
            self.groups: list[list[str]] = []

        def _check(self, run, step):
            conn = sqlite3.connect(f"file:{tmp_path / '.orch' / 'state.db'}?mode=ro", uri=True)
            try:
                found = conn.execute("SELECT status FROM step_results WHERE run = ? AND step = ?",
                                     (run.id, step.name)).fetchone()
            finally:
                conn.close()
            if found is None:
                self.missing.append(step.name)
            self.reported.append(step.name)

        @hookimpl
        def orch_record_steps(self, finished):
            self.groups.append([step.name for step, _, _ in finished])

        @hookimpl
        def orch_after_step(self, run, step):
            self._check(run, step)

        @hookimpl
        def orch_on_step_error(self, run, step):
            self._check(run, step)

    watcher = register_plugin(StoreWatcher(), "store_watcher")
    steps = "".join(f"  - {{name: s{i}, uses: noop}}\n" for i in range(60))
    outcome = run_orch_recipe("steps:\n" + steps + "  - {name: broken, uses: fail}\n")
    assert outcome.error is not None and outcome.lines[-1]["step"] == "broken"
    assert watcher.reported == [f"s{i}" for i in range(60)] + ["broken"]
    assert watcher.missing == []
    assert [name for group in watcher.groups for name in group] == watcher.reported  # each once, in order
    assert len(watcher.groups) < 30  # quick steps on the runner's thread share their commits


def test_a_slow_step_does_not_hold_back_the_lines_of_the_quick_steps_before_it(project):
    (project / "gate.flag").write_text("closed")
    (project / "slow.yaml").write_text("""
name: slow
steps:
  - {name: q1, module: gc_steps, function: Quick}
  - {name: q2, module: gc_steps, function: Quick}
  - {name: q3, module: gc_steps, function: Quick}
  - {name: slow, module: gc_steps, function: Gated, params: {gate: gate.flag}}
""")
    proc = popen(project, "run", "slow.yaml", "--no-progress")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    try:
        reader.start()
        deadline = time.monotonic() + 60
        while len(lines) < 3:
            assert time.monotonic() < deadline and proc.poll() is None, f"only {lines} while the slow step runs"
            time.sleep(0.02)
        assert proc.poll() is None  # the slow step is still running: the three lines came before its end
        assert [json.loads(line)["step"] for line in lines] == ["q1", "q2", "q3"]
        (project / "gate.flag").unlink()
        assert proc.wait(timeout=60) == 0
        reader.join(timeout=10)
    finally:
        stop(proc)
    assert [json.loads(line)["step"] for line in lines] == ["q1", "q2", "q3", "slow"]


def test_the_events_file_keeps_starts_and_finishes_in_the_order_they_happened(project):
    (project / "chain.yaml").write_text(chain(50))
    proc = popen(project, "run", "chain.yaml", "--no-progress", "--events", "events.jsonl")
    try:
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        stop(proc)
        proc.communicate()
    records = [json.loads(line) for line in (project / "events.jsonl").read_text().splitlines()]
    expected = ["run_start"] + [f"{kind} q{i}" for i in range(50) for kind in ("step_start", "step_finish")]
    assert [r["event"] + (f" {r['step']}" if "step" in r else "") for r in records] == expected + ["run_finish"]
    stamps = [r["ts"] for r in records]
    assert stamps == sorted(stamps)  # a finish says when the step finished, not when it was reported


def test_a_client_write_racing_an_unrecorded_step_ends_the_same_in_the_store_and_the_run(
        sample_pm, run_orch_recipe, tmp_path, monkeypatch):
    # 'a' writes t.k_v1 and finishes; while it is not yet recorded (quick steps share a
    # commit), a client writes t.k_v1. The store then has a's write after the client's,
    # so a's value stands there, and must in the run's context too.
    (tmp_path / "gc_steps.py").write_text(STEPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    outcome = run_orch_recipe("""
    steps:
      - {name: a, module: gc_steps, function: Write, params: {values: {t.k_v1: 1}}}
      - {name: b, module: gc_steps, function: Write, params: {client: 2}}
      - {name: c, module: gc_steps, function: Write, params: {values: {t.c_v1: 3}}}
    """)
    assert outcome.error is None, outcome.error
    conn = sqlite3.connect(tmp_path / ".orch" / "state.db")
    try:
        written = conn.execute("SELECT value, who, external FROM context_writes WHERE key = 't.k_v1' ORDER BY id")
        history = [(json.loads(value), who, external) for value, who, external in written]
    finally:
        conn.close()
    assert (2, "client", 1) in history  # the client's write is recorded
    assert history[-1][0] == outcome.context["t.k_v1"]  # the store and the run end on the same value
