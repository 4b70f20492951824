"""The state store: what a run records, the schema and its migrations, concurrent runs, the history commands."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator_core.errors import UsageError
from orchestrator_core.state.migrations import CURRENT_VERSION, StateVersionError
from orchestrator_core.state.store import StateStore
from orchestrator_core.testing import orch_executable

SCRIPTLETS = Path(__file__).with_name("test_state_scriptlets.py")

RECIPE = """
name: recorded
context: {t.e_v1: 5}
steps:
  - {name: a, module: steps, function: Emit, params: {values: {t.a_v1: 1, t.b_v1: [1, 2]}}}
  - {name: total, module: steps, function: Sum, params: {keys: [t.a_v1, t.e_v1, t.c_v1]}}
  - {name: f, module: steps, function: FailIf, params: {flag: fail.flag}, depends_on: [a]}
"""


@pytest.fixture
def project(tmp_path, monkeypatch, orch_cli):
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    shutil.copy(SCRIPTLETS, tmp_path / "steps.py")
    (tmp_path / "recorded.yaml").write_text(RECIPE)

    class Project:
        path = tmp_path
        db = tmp_path / ".orch" / "state.db"

        def orch(self, *args, **kw):
            return orch_cli(*args, pythonpath=[tmp_path], **kw)

        def json(self, *args, **kw):
            return json.loads(self.orch(*args, "--json", **kw).assert_success().out)

    return Project()


def query(db: Path, sql: str, *args) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_a_run_records_its_steps_writes_and_initial_keys(project):
    (project.path / "fail.flag").write_text("on")
    outcome = project.orch("run", "recorded.yaml", "--set", "t.c_v1=3", "--keep-going", "--no-progress")
    assert outcome.exit_code == 1
    ((run_id, recipe, path, digest, status, flags, pid, finished),) = query(
        project.db, "SELECT id, recipe, recipe_path, recipe_digest, status, flags, pid, finished FROM runs")
    assert (recipe, path, status) == ("recorded", str(project.path / "recorded.yaml"), "error")
    assert len(digest) == 64 and pid > 0 and finished is not None
    assert json.loads(flags)["keep_going"] is True
    steps = {row[0]: row[1:] for row in query(
        project.db, "SELECT step, status, error, duration_ms, cpu_ms, peak_rss_kb, attempts, executor"
                    " FROM step_results")}
    assert steps["a"][0] == "ok" and steps["a"][1] is None and steps["a"][2] >= 0 and steps["a"][4] > 0
    assert steps["a"][5:] == (1, "inline")
    assert steps["f"][0] == "error" and json.loads(steps["f"][1])["reason"] == "flag file present"
    writes = query(project.db, "SELECT key, value, who, step FROM context_writes WHERE run = ? ORDER BY id", run_id)
    assert ("t.e_v1", "5", "initial", None) in writes and ("t.c_v1", "3", "initial", None) in writes
    assert ("t.b_v1", "[1,2]", "state_emit", "a") in writes and ("t.sum_v1", "9", "state_sum", "total") in writes
    assert writes[-1][0] == "_runner.step_metrics_v1"  # the runner's metrics, at the end
    assert query(project.db, "PRAGMA journal_mode")[0][0] == "wal"
    assert query(project.db, "PRAGMA user_version")[0][0] == CURRENT_VERSION


def test_history_commands_show_runs_steps_context_and_differences(project):
    first = project.orch("run", "recorded.yaml", "--skip", "f", "--set", "t.c_v1=3", "--no-progress").assert_success()
    second = project.orch("run", "recorded.yaml", "--skip", "f", "--set", "t.c_v1=30", "--no-progress")
    second.assert_success()
    runs = project.json("runs", "list")
    assert [r["status"] for r in runs] == ["ok", "ok"] and runs[0]["steps"] == {"ok": 2}
    newest, oldest = runs[0]["id"], runs[1]["id"]
    assert project.json("runs", "list", "--recipe", "other") == []

    prefix = newest[:-1]
    assert not oldest.startswith(prefix)
    shown = project.json("runs", "show", prefix)  # a unique prefix
    assert shown["id"] == newest and [s["step"] for s in shown["steps"]] == ["a", "total"]
    assert shown["flags"]["skip"] == ["f"]
    table = project.orch("runs", "show", "latest").assert_success().out
    assert f"run       {newest}" in table and "STEP" in table and "inline" in table

    assert project.json("context", "show") == {
        "t.e_v1": 5, "t.c_v1": 30, "t.a_v1": 1, "t.b_v1": [1, 2], "t.sum_v1": 36,
        "_runner.step_metrics_v1": project.json("context", "show", "_runner.step_metrics_v1"),
    }
    assert project.json("context", "show", "t.sum_v1", "--run", oldest) == 9
    history = project.json("context", "show", "t.sum_v1", "--history")
    assert [(w["value"], w["run"], w["step"]) for w in history] == [(9, oldest, "total"), (36, newest, "total")]
    assert [w["key"] for w in project.json("context", "show", "--history", "--run", oldest)][:2] == ["t.e_v1", "t.c_v1"]
    assert "t.sum_v1" in project.orch("context", "show").assert_success().out

    diff = project.json("runs", "diff", oldest, newest)
    assert diff["changed"] == {"t.c_v1": {"a": 3, "b": 30}, "t.sum_v1": {"a": 9, "b": 36}}
    assert diff["added"] == {} and diff["removed"] == {} and "t.a_v1" in diff["unchanged"]
    text = project.orch("runs", "diff", oldest, "latest").assert_success().out
    assert "t.sum_v1" in text and "changed" in text and "t.a_v1" not in text.split("\n\n")[1]

    missing = project.orch("runs", "show", "nope")
    assert missing.exit_code == 2 and "no run 'nope'" in missing.err
    ambiguous = project.orch("runs", "show", "2")
    assert ambiguous.exit_code == 2 and "ambiguous" in ambiguous.err
    unknown = project.orch("context", "show", "t.sum_v2")
    assert unknown.exit_code == 2 and "did you mean 't.sum_v1'?" in unknown.err


def test_commands_with_no_store_show_nothing_and_create_nothing(project):
    assert project.json("runs", "list") == []
    assert project.orch("runs", "list").assert_success().out.strip() == "(none)"
    outcome = project.orch("context", "show")
    assert outcome.exit_code == 2 and "no run has been recorded" in outcome.err
    assert not (project.path / ".orch").exists()


def test_state_dir_option_and_environment_move_the_store(project):
    project.orch("run", "recorded.yaml", "--skip", "f", "--set", "t.c_v1=1", "--state-dir", "one").assert_success()
    project.orch("run", "recorded.yaml", "--skip", "f", "--set", "t.c_v1=1", env={"ORCH_STATE_DIR": "two"})
    assert (project.path / "one" / "state.db").exists() and (project.path / "two" / "state.db").exists()
    assert not project.db.exists()
    assert len(project.json("runs", "list", "--state-dir", "one")) == 1
    assert len(project.json("runs", "list", env={"ORCH_STATE_DIR": str(project.path / "two")})) == 1
    assert project.json("runs", "list") == []


def test_two_runs_at_once_in_one_directory_are_both_recorded_whole(project):
    steps = "\n".join(f"  - {{name: s{i}, module: steps, function: Emit, params: {{values: {{t.a_v1: {i}}}, "
                      f"sleep: 0.01}}}}" for i in range(40))
    (project.path / "many.yaml").write_text(f"name: many\nsteps:\n{steps}\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(project.path), os.environ.get("PYTHONPATH", "")]))
    procs = [subprocess.Popen([orch_executable(), "run", "many.yaml", "--no-progress"], cwd=project.path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        outputs = [proc.communicate(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in outputs]
    assert all(len(out.splitlines()) == 40 for out, _ in outputs)
    runs = project.json("runs", "list")
    assert len(runs) == 2 and {r["status"] for r in runs} == {"ok"}
    assert runs[0]["started"] < runs[1]["finished"] and runs[1]["started"] < runs[0]["finished"]  # at once
    assert [r["steps"] for r in runs] == [{"ok": 40}, {"ok": 40}]
    for run in runs:
        assert project.json("context", "show", "t.a_v1", "--run", run["id"]) == 39
        assert len(project.json("context", "show", "--history", "--run", run["id"])) == 41  # 40 + runner metrics
    assert query(project.db, "PRAGMA integrity_check") == [("ok",)]


def test_the_merged_value_is_what_the_store_keeps(sample_pm, run_orch_recipe, tmp_path):
    # 'late' is earlier in the recipe but finishes last: the context keeps 'early's value
    # (recipe order, last write wins), and so must the store.
    outcome = run_orch_recipe("""
    merge: {keys: {t.shared_v1: last_write_wins}}
    steps:
      - {name: late, uses: write_keys, params: {values: {t.shared_v1: 1}, sleep: 0.3}, depends_on: []}
      - {name: early, uses: write_keys, params: {values: {t.shared_v1: 2}}, depends_on: []}
    """)
    assert outcome.context["t.shared_v1"] == 2
    store = StateStore.open(tmp_path / ".orch")
    try:
        (run,) = store.runs()
        assert store.context(run.id)["t.shared_v1"]["value"] == 2
        assert [(w["value"], w["who"]) for w in store.writes(run.id, "t.shared_v1")] == [
            (2, "write_keys"), (1, "write_keys"), (2, "merge")]
    finally:
        store.close()


def test_one_process_running_again_records_where_each_run_says(sample_pm, run_orch_recipe, tmp_path):
    recipe = "steps: [{name: one, uses: write_keys, params: {values: {t.a_v1: 1}}}]"

    def recorded(where):
        store = StateStore.open(where)
        try:
            return [r.status for r in store.runs()]
        finally:
            store.close()

    run_orch_recipe(recipe)
    run_orch_recipe(recipe)
    assert recorded(tmp_path / ".orch") == ["ok", "ok"]
    shutil.rmtree(tmp_path / ".orch")  # deleted between two runs: the next run starts a new store
    run_orch_recipe(recipe)
    assert recorded(tmp_path / ".orch") == ["ok"]
    run_orch_recipe(recipe, config={"state_dir": tmp_path / "other"})
    assert recorded(tmp_path / "other") == ["ok"] and recorded(tmp_path / ".orch") == ["ok"]


def test_a_running_run_whose_process_is_gone_shows_as_killed(tmp_path):
    from orchestrator_core.state.store import RunRecord

    proc = subprocess.Popen(["true"])
    proc.wait()
    store = StateStore.open(tmp_path)
    try:
        store.start_run(RunRecord("20260101T000000-aaaaaa", "r", None, None, 1.0, None, "running", {}, proc.pid), [])
        store.start_run(RunRecord("20260101T000001-bbbbbb", "r", None, None, 2.0, None, "running", {}, os.getpid()), [])
        assert [r.shown_status for r in store.runs()] == ["running", "killed"]
        assert store.get_run("latest").id == "20260101T000001-bbbbbb"
        with pytest.raises(UsageError, match="ambiguous"):
            store.get_run("2026")
    finally:
        store.close()


# -- schema versions ------------------------------------------------------------------------------
V1_SCHEMA = """
CREATE TABLE runs (id TEXT PRIMARY KEY, recipe TEXT NOT NULL, recipe_path TEXT, recipe_digest TEXT,
    started REAL NOT NULL, finished REAL, status TEXT NOT NULL, flags TEXT NOT NULL DEFAULT '{}', pid INTEGER);
CREATE INDEX runs_by_recipe ON runs (recipe, started);
CREATE TABLE step_results (run TEXT NOT NULL, step TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    duration_ms REAL, cpu_ms REAL, peak_rss_kb INTEGER, cache TEXT, attempts INTEGER NOT NULL DEFAULT 1,
    executor TEXT, finished REAL NOT NULL, PRIMARY KEY (run, step));
CREATE TABLE context_writes (id INTEGER PRIMARY KEY, run TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    who TEXT, step TEXT, ts TEXT);
CREATE INDEX writes_by_run ON context_writes (run, key);
INSERT INTO runs VALUES ('20250101T000000-0a0a0a', 'recorded', '/old/recorded.yaml', 'x', 1.0, 2.0, 'error',
    '{}', 1);
INSERT INTO step_results VALUES ('20250101T000000-0a0a0a', 'a', 'ok', NULL, 1.5, 1.0, 100, NULL, 1, 'inline', 1.5);
INSERT INTO context_writes (run, key, value, who, step, ts) VALUES
    ('20250101T000000-0a0a0a', 't.a_v1', '41', 'Emit', 'a', '2025-01-01T00:00:01.000Z'),
    ('20250101T000000-0a0a0a', 't.b_v1', '[1,2]', 'Emit', 'a', '2025-01-01T00:00:01.000Z');
PRAGMA user_version = 1;
"""


def test_a_database_of_schema_version_1_opens_and_is_brought_up_to_date(project):
    project.db.parent.mkdir()
    conn = sqlite3.connect(project.db)
    conn.executescript(V1_SCHEMA)
    conn.close()

    listed = project.json("runs", "list")
    assert [(r["id"], r["status"]) for r in listed] == [("20250101T000000-0a0a0a", "error")]
    assert query(project.db, "PRAGMA user_version") == [(CURRENT_VERSION,)]
    assert project.json("context", "show") == {"t.a_v1": 41, "t.b_v1": [1, 2]}
    # the old run is a run of the recipe like any other: --only and --resume-from start from it
    only = project.orch("run", "recorded.yaml", "--only", "total", "--set", "t.c_v1=1", "--no-progress")
    assert only.assert_success().lines[0]["step"] == "total"
    assert project.json("context", "show", "t.sum_v1") == 47  # 41 + 5 + 1
    assert query(project.db, "SELECT source_run FROM context_writes WHERE key = 't.a_v1' ORDER BY id") == [
        (None,), ("20250101T000000-0a0a0a",)]


def test_a_file_digest_remembered_by_schema_version_4_is_never_trusted_again(project):
    # Version 4 remembered no inode: its digests are read once more, then remembered whole.
    from orchestrator_core.state.migrations import MIGRATIONS

    source = project.path / "in.txt"
    source.write_text("new text")
    found = source.stat()
    project.db.parent.mkdir()
    conn = sqlite3.connect(project.db)
    for statement in (s for version in MIGRATIONS[:4] for s in version):
        conn.execute(statement)
    conn.execute("INSERT INTO file_digests VALUES (?, ?, ?, ?, ?, 1.0)",
                 (str(source), found.st_size, found.st_mtime_ns, found.st_ctime_ns, "0" * 64))
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()
    (project.path / "digests.yaml").write_text(
        "steps: [{name: a, module: steps, function: Emit, params: {values: {t.a_v1: 1}}, cache: true, "
        "files: [in.txt]}]\n")
    time.sleep(0.2)  # the file leaves the racy window (file_digests.RACY_WINDOW_NS), to be remembered
    outcome = project.orch("--log-level", "DEBUG", "run", "digests.yaml", "--no-progress").assert_success()
    assert f"hashed {source}" in outcome.err
    assert query(project.db, "PRAGMA user_version") == [(CURRENT_VERSION,)]
    assert query(project.db, "SELECT digest, ino, dev FROM file_digests") == [
        (hashlib.sha256(b"new text").hexdigest(), found.st_ino, found.st_dev)]


def test_a_database_from_a_newer_orch_is_refused_with_a_clear_message(project):
    project.db.parent.mkdir()
    conn = sqlite3.connect(project.db)
    conn.execute(f"PRAGMA user_version = {CURRENT_VERSION + 1}")
    conn.close()
    with pytest.raises(StateVersionError, match="upgrade orch"):
        StateStore.open(project.db.parent)
    outcome = project.orch("run", "recorded.yaml", "--skip", "f", "--set", "t.c_v1=1")
    assert outcome.exit_code == 2 and "upgrade orch" in outcome.err and outcome.out == ""
    assert "Traceback" not in outcome.err


def test_an_unwritable_state_dir_stops_the_run_before_anything_runs(project):
    (project.path / "blocked").write_text("a file where the folder should be")
    outcome = project.orch("run", "recorded.yaml", "--skip", "f", "--state-dir", "blocked/x")
    assert outcome.exit_code == 2 and "cannot open the state store" in outcome.err
    assert not (project.path / "calls.log").exists()
    unrecorded = project.orch("-p", "no:state", "run", "recorded.yaml", "--skip", "f", "--set", "t.c_v1=1",
                              "--state-dir", "blocked/x")
    assert unrecorded.assert_success().lines[-1]["step"] == "total"


def test_runs_diff_tells_values_python_calls_equal_apart(project):
    """1 and true, 1 and 1.0, 0.0 and -0.0 are different JSON values: a diff that calls them
    unchanged hides a change of type (and a report reading the key may show it)."""
    values = {"in.a": ("1", "true"), "in.b": ("[1,0]", "[1.0,false]"), "in.c": ('{"x":1}', '{"x":1.0}'),
              "in.d": ("0.0", "-0.0"), "in.e": ('"same"', '"same"')}
    for side in (0, 1):
        sets = [arg for key, pair in values.items() for arg in ("--set", f"{key}={pair[side]}")]
        project.orch("run", "recorded.yaml", "--skip", "f", *sets, "--no-progress").assert_success()
    newest, oldest = [r["id"] for r in project.json("runs", "list")]
    diff = project.json("runs", "diff", oldest, newest)
    assert sorted(diff["changed"]) == ["in.a", "in.b", "in.c", "in.d"] and "in.e" in diff["unchanged"]
