"""A store whose rows hold valid JSON of the wrong shape, or columns of the wrong type, through the real ``orch``:
``orch doctor`` reports it, the commands and the server say the store is damaged (never a traceback),
and ``--repair`` makes it sound again. What each column holds is defined once, in ``state/columns.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from orchestrator_core.state.columns import RULES
from orchestrator_core.testing import orch_executable

SCRIPTLETS = Path(__file__).with_name("test_state_scriptlets.py")

TWO_STEPS = """
name: two
steps:
  - {name: a, module: steps, function: Emit, params: {values: {t.a_v1: 1}}}
  - {name: total, module: steps, function: Sum, params: {keys: [t.a_v1]}, depends_on: [a]}
"""

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


@pytest.fixture(scope="module")
def recorded_store(tmp_path_factory) -> Path:
    """A sound store with two runs of ``two.yaml``."""
    where = tmp_path_factory.mktemp("recorded")
    shutil.copy(SCRIPTLETS, where / "steps.py")
    (where / "two.yaml").write_text(TWO_STEPS)
    for _ in range(2):
        done = subprocess.run([orch_executable(), "run", "two.yaml", "--no-progress"], cwd=where, capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(where)})
        assert done.returncode == 0, done.stderr
    return where / ".orch" / "state.db"


@pytest.fixture
def project(tmp_path, monkeypatch, orch_cli, recorded_store):
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    shutil.copy(SCRIPTLETS, tmp_path / "steps.py")
    (tmp_path / "two.yaml").write_text(TWO_STEPS)
    (tmp_path / ".orch").mkdir()
    shutil.copy(recorded_store, tmp_path / ".orch" / "state.db")

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

    return Project()


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
