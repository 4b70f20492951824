"""``orch doctor``: what it says about sound and damaged stores (invalid JSON, values of the wrong kind), and
what ``--repair`` keeps; the commands and the server refuse a store with values of the wrong kind in one line."""

from __future__ import annotations

import json
import shutil
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from orchestrator_core.state.columns import RULES
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


OWNED = ("step_results", "context_writes", "events")
# What a run of two.yaml records: 2 steps; the 2 writes of step a, 1 of total, the metrics; the run's start
# and end events (step events are journaled only while a server watches)
RUN_ROWS = {"step_results": 2, "context_writes": 4, "events": 2}


def rows_of(project, run_id: str) -> dict[str, int]:
    conn = sqlite3.connect(project.db)
    try:
        return {table: conn.execute(f"SELECT COUNT(*) FROM {table} WHERE run = ?", (run_id,)).fetchone()[0]
                for table in OWNED}
    finally:
        conn.close()


def orphans(project) -> dict[str, int]:
    conn = sqlite3.connect(project.db)
    try:
        return {table: conn.execute(f"SELECT COUNT(*) FROM {table} WHERE run NOT IN (SELECT id FROM runs)")
                .fetchone()[0] for table in OWNED}
    finally:
        conn.close()


def test_a_run_the_repair_leaves_out_takes_its_steps_writes_and_events_with_it(project):
    older, newer = [r["id"] for r in json.loads(project.orch("runs", "list", "--json").assert_success().out)][::-1]
    assert all(rows_of(project, older).values())
    project.execute(f"UPDATE runs SET started = 'yesterday' WHERE id = '{older}'")
    repaired = project.orch("doctor", "--repair", "--json").assert_success()
    document = json.loads(repaired.out)
    assert document["repair"]["orphans_dropped"] == RUN_ROWS and document["after_repair"]["healthy"]
    assert rows_of(project, older) == {table: 0 for table in OWNED}
    assert all(rows_of(project, newer).values())  # the run kept keeps every row
    assert orphans(project) == {table: 0 for table in OWNED}
    assert document["repair"]["kept"]["step_results"] == 2
    project.orch("runs", "show", newer).assert_success()


def test_orphan_rows_are_a_problem_the_repair_removes(project):
    project.execute("DELETE FROM runs WHERE rowid = (SELECT MIN(rowid) FROM runs)")  # a run lost, its rows not
    found = project.orch("doctor")
    assert found.exit_code == 1
    for table, n in RUN_ROWS.items():
        assert f"problem: {project.db}: {n} row(s) of table {table} belong to 1 run(s) that are not in table runs" \
            in found.out, found.out
    repaired = project.orch("doctor", "--repair").assert_success()
    assert "left out: 2 row(s) of step_results whose run is not kept" in repaired.out, repaired.out
    assert orphans(project) == {table: 0 for table in OWNED}
    assert project.orch("doctor").assert_success().out.startswith(f"ok: {project.db} is sound (1 runs, 2 step_results")


def test_a_store_of_a_newer_orch_is_not_repaired(project):
    project.execute("PRAGMA user_version = 99")
    found = project.orch("doctor")
    assert found.exit_code == 1 and "newer than this orch's" in found.out and "--repair" not in found.out
    refused = project.orch("doctor", "--repair")
    assert refused.exit_code == 2 and "upgrade orch" in refused.err
    assert not list(project.db.parent.glob("state.db.damaged-*"))


# -- values of the wrong kind: valid JSON of the wrong shape, a column of the wrong type ----------
RUN_START = "event = 'run_start'"
# kind of damage -> (statement, the doctor's problem, the column the error names, what the repair says)
DAMAGE = {
    "started is text": ("UPDATE runs SET started = 'abc'", "table runs hold something other than a number in column "
                        "started", "column started", "left out: 2 row(s) whose runs.started"),
    "flags a list": ("UPDATE runs SET flags = '[1]'", "in column flags", "column flags",
                     "replaced ({}): 2 row(s) of runs.flags"),
    "plan a number": ("""UPDATE runs SET flags = '{"plan": 5}'""", "in column flags", "column flags",
                      "replaced ({}): 2 row(s) of runs.flags"),
    "finished is text": ("UPDATE runs SET finished = 'x'", "a number or NULL in column finished",
                         "column finished", "replaced (NULL): 2 row(s) of runs.finished"),
    "duration_ms is text": ("UPDATE step_results SET duration_ms = 'x'", "in column duration_ms",
                            "column duration_ms", "replaced (NULL): 4 row(s) of step_results.duration_ms"),
    "cpu_ms is text": ("UPDATE step_results SET cpu_ms = 'x'", "in column cpu_ms", "column cpu_ms",
                       "replaced (NULL): 4 row(s) of step_results.cpu_ms"),
    "peak_rss_kb is text": ("UPDATE step_results SET peak_rss_kb = 'x'", "in column peak_rss_kb",
                            "column peak_rss_kb", "replaced (NULL): 4 row(s) of step_results.peak_rss_kb"),
    "attempts is text": ("UPDATE step_results SET attempts = 'x'", "an integer in column attempts",
                         "column attempts", "left out: 4 row(s) whose step_results.attempts"),
    "step finished is text": ("UPDATE step_results SET finished = 'x'", "a number in column finished",
                              "column finished", "left out: 4 row(s) whose step_results.finished"),
    "depends_on a number": (f"UPDATE events SET data = json_set(data, '$.depends_on', 5) WHERE {RUN_START}",
                            "table events hold something other than", "column data",
                            "left out: 2 row(s) whose events.data"),
    "journalled plan a number": (f"UPDATE events SET data = json_set(data, '$.plan', 5) WHERE {RUN_START}",
                                 "table events hold something other than", "column data",
                                 "left out: 2 row(s) whose events.data"),
    "run_finish data a list": ("UPDATE events SET data = '[1]' WHERE event = 'run_finish'",
                               "table events hold something other than", "column data",
                               "left out: 2 row(s) whose events.data"),
}
# Only the server reads a run's run_start event; only `orch runs show` its run_finish event.
SERVER_ONLY = {"depends_on a number", "journalled plan a number"}
CLI_ONLY = {"run_finish data a list"}


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def assert_one_line(outcome, column: str, db: Path) -> None:
    assert outcome.exit_code == 2, outcome.out + outcome.err
    assert "Traceback" not in outcome.err
    (line,) = [line for line in outcome.err.splitlines() if line.strip()]
    assert str(db) in line and column in line and f"orch doctor --state-dir {db.parent}" in line, line


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_value_of_the_wrong_kind_is_found_refused_everywhere_and_repaired(project, orch_server, kind):
    statement, problem, column, repaired_line = DAMAGE[kind]
    project.execute(statement)

    found = project.orch("doctor")
    assert found.exit_code == 1 and "problem:" in found.out and problem in found.out, found.out

    if kind not in SERVER_ONLY:
        assert_one_line(project.orch("runs", "show"), column, project.db)

    if kind not in CLI_ONLY:
        served = orch_server(cwd=project.path, env={"PYTHONPATH": str(project.path)})
        status, body = get(f"{served.url}api/runs/latest")
        assert status == 503 and body["error"] == "store_unavailable", body
        assert "orch doctor" in body["message"] and column in body["message"], body
        served.stop()
        assert "Traceback" not in served.log.read_text()

    repaired = project.orch("doctor", "--repair")
    assert repaired.exit_code == 0, repaired.out + repaired.err
    assert repaired_line in repaired.out, repaired.out
    project.orch("doctor").assert_success()
    if "runs.started" in repaired_line:  # both runs are gone: nothing to show, a new run works
        project.orch("run", "two.yaml", "--no-progress").assert_success()
    project.orch("runs", "show", "latest").assert_success()
    project.orch("report", "--out", str(project.path / "report")).assert_success()
    again = orch_server(cwd=project.path, env={"PYTHONPATH": str(project.path)})
    status, body = get(f"{again.url}api/runs/latest")
    assert status == 200 and body["run"]["recipe"] == "two", body


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: f"{rule.table}.{rule.column}")
def test_the_sql_and_the_python_of_each_rule_agree(rule, tmp_path):
    """The doctor counts with ``wrong_sql``, the reader and the repair check with ``fits``: the same rows.
    (A JSON column's SQL NULL is left out: its JSON ``null`` decodes to the same ``None``.)"""
    samples = [None, 0, 3, 2.5, "x", "", b"\x00"]
    if rule.json:
        samples = ["{}", "[1]", "5", '"text"', "null", '{"plan": ["a"]}', '{"plan": 5}', '{"plan": [1]}',
                   '{"plan": null}', '{"event": "run_start"}', '{"event": "run_start", "plan": ["a", "b"],'
                   ' "depends_on": {"b": ["a"]}}', '{"event": "run_start", "depends_on": 5}',
                   '{"event": "run_start", "depends_on": {"b": "a"}}', '{"event": "run_start", "depends_on": {"b": [1]}}',
                   '{"event": "step_start", "step": "a", "ts": "t"}', '{"event": "step_start", "step": ["a"]}',
                   '{"event": 5}', '{"event": "run_finish", "reason": null}']
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE {rule.table} ({rule.column})")
    for sample in samples:
        conn.execute(f"DELETE FROM {rule.table}")
        conn.execute(f"INSERT INTO {rule.table} VALUES (?)", (sample,))
        wrong = conn.execute(f"SELECT COUNT(*) FROM {rule.table} WHERE {rule.wrong_sql}").fetchone()[0] == 1
        value = json.loads(sample) if rule.json and sample is not None else sample
        assert wrong != rule.fits(value), sample
