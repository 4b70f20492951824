"""``orch doctor``: what it says about sound and damaged stores, and what ``--repair`` keeps."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from orchestrator_core.state.liveness import RunLock

SCRIPTLETS = Path(__file__).with_name("test_state_scriptlets.py")

TWO_STEPS = """
name: two
steps:
  - {name: a, module: steps, function: Emit, params: {values: {t.a_v1: 1, t.b_v1: [1, 2]}}}
  - {name: total, module: steps, function: Sum, params: {keys: [t.a_v1]}, depends_on: [a]}
"""


@pytest.fixture
def project(tmp_path, monkeypatch, orch_cli):
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    shutil.copy(SCRIPTLETS, tmp_path / "steps.py")
    (tmp_path / "two.yaml").write_text(TWO_STEPS)

    class Project:
        path = tmp_path
        db = tmp_path / ".orch" / "state.db"

        def orch(self, *args, **kw):
            return orch_cli(*args, pythonpath=[tmp_path], **kw)

        def execute(self, statement: str) -> None:
            conn = sqlite3.connect(self.db)
            conn.execute(statement)
            conn.commit()
            conn.close()

    project = Project()
    for _ in range(2):
        project.orch("run", "two.yaml", "--no-progress").assert_success()
    return project


def test_a_sound_store_is_reported_sound(project):
    outcome = project.orch("doctor").assert_success()
    assert outcome.out.startswith(f"ok: {project.db} is sound (2 runs, 4 step_results")
    document = json.loads(project.orch("doctor", "--json").assert_success().out)
    assert document["healthy"] and document["problems"] == [] and document["rows"]["runs"] == 2


def test_no_store_is_nothing_to_check(project):
    outcome = project.orch("doctor", "--state-dir", "elsewhere").assert_success()
    assert "no state store" in outcome.out and not (project.path / "elsewhere").exists()


def test_bad_json_is_found_without_changing_anything_then_repaired_keeping_every_other_row(project):
    project.execute("UPDATE context_writes SET value = '{bad' WHERE key = 't.b_v1'")
    before = project.db.read_bytes()
    found = project.orch("doctor")
    assert found.exit_code == 1
    assert "problem:" in found.out and "2 row(s) of table context_writes hold invalid JSON" in found.out
    assert project.db.read_bytes() == before

    repaired = project.orch("doctor", "--repair")
    assert repaired.exit_code == 0, repaired.out + repaired.err
    (aside,) = [p for p in project.db.parent.glob("state.db.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert aside.read_bytes() == before  # the damaged file is kept as it was
    assert "left out: 2 row(s) of context_writes with invalid JSON" in repaired.out
    runs = json.loads(project.orch("runs", "list", "--json").assert_success().out)
    assert [r["steps"] for r in runs] == [{"ok": 2}, {"ok": 2}]
    context = json.loads(project.orch("context", "show", "--json").assert_success().out)
    assert context["t.a_v1"] == 1 and "t.b_v1" not in context
    project.orch("doctor").assert_success()
    project.orch("run", "two.yaml", "--no-progress", "--resume-from", "total").assert_success()


def test_a_file_that_is_not_a_database_is_moved_aside_for_a_new_store(project):
    project.db.write_bytes(b"this is not a database" * 1000)
    assert project.orch("runs", "list").exit_code == 2
    outcome = project.orch("doctor", "--repair", "--json")
    assert outcome.exit_code == 0, outcome.err
    document = json.loads(outcome.out)
    assert document["problems"] == ["the file is not a SQLite database"] and document["after_repair"]["healthy"]
    assert Path(document["repair"]["moved_to"]).read_bytes().startswith(b"this is not a database")
    assert project.orch("runs", "list").assert_success().out.strip() == "(none)"
    project.orch("run", "two.yaml", "--no-progress").assert_success()


def test_a_missing_table_is_a_problem_and_the_other_tables_are_kept(project):
    project.execute("DROP TABLE fingerprints")
    found = project.orch("doctor")
    assert found.exit_code == 1 and "table fingerprints missing" in found.out
    repaired = json.loads(project.orch("doctor", "--repair", "--json").assert_success().out)
    assert repaired["repair"]["kept"]["runs"] == 2 and repaired["repair"]["kept"]["step_results"] == 4
    project.orch("runs", "show", "latest").assert_success()


def test_no_repair_while_a_run_is_running_on_the_store(project):
    project.execute("UPDATE runs SET flags = 'not json'")
    lock = RunLock.acquire(project.db.parent, "20990101T000000-abcdef")
    try:
        outcome = project.orch("doctor", "--repair")
    finally:
        lock.release()
    assert outcome.exit_code == 2 and "still running" in outcome.err
    assert not list(project.db.parent.glob("state.db.damaged-*"))
    repaired = project.orch("doctor", "--repair").assert_success()
    assert "kept without their flags: 2 row(s) of runs" in repaired.out
    assert len(json.loads(project.orch("runs", "list", "--json").assert_success().out)) == 2


def test_a_store_of_a_newer_orch_is_not_repaired(project):
    project.execute("PRAGMA user_version = 99")
    found = project.orch("doctor")
    assert found.exit_code == 1 and "newer than this orch's" in found.out and "--repair" not in found.out
    refused = project.orch("doctor", "--repair")
    assert refused.exit_code == 2 and "upgrade orch" in refused.err
    assert not list(project.db.parent.glob("state.db.damaged-*"))
