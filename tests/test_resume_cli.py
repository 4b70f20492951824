"""Resuming across invocations: ``--resume-from`` and ``--only`` read what earlier ``orch`` processes recorded.

Every run here is a real ``orch`` process; one is killed with SIGKILL half-way
through, and a new process completes the run from what the store kept.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from orch_test_helpers import wait_for

from orchestrator_core.testing import orch_executable

SCRIPTLETS = Path(__file__).with_name("test_state_scriptlets.py")

GATED = """
name: gated
steps:
  - {name: a, module: steps, function: Emit, params: {values: {t.a_v1: 1}}}
  - {name: b, module: steps, function: Emit, params: {values: {t.b_v1: 2}}}
  - {name: c, module: steps, function: Gate, params: {gate: gate.flag, value: 3}}
  - {name: d, module: steps, function: Sum, params: {keys: [t.a_v1, t.b_v1, t.c_v1]}}
"""

FAILING = """
name: failing
steps:
  - {name: a, module: steps, function: Emit, params: {values: {t.a_v1: 1}}}
  - {name: f, module: steps, function: FailIf, params: {flag: fail.flag, value: 4}}
  - {name: g, module: steps, function: Sum, params: {keys: [t.a_v1, t.d_v1]}}
"""


@pytest.fixture
def project(tmp_path, monkeypatch, orch_cli):
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    shutil.copy(SCRIPTLETS, tmp_path / "steps.py")
    (tmp_path / "gated.yaml").write_text(GATED)
    (tmp_path / "failing.yaml").write_text(FAILING)

    class Project:
        path = tmp_path
        db = tmp_path / ".orch" / "state.db"

        def orch(self, *args, **kw):
            return orch_cli(*args, pythonpath=[tmp_path], **kw)

        def run(self, *args):
            return self.orch("run", *args, "--no-progress")

        def calls(self):
            log = tmp_path / "calls.log"
            return log.read_text().split() if log.exists() else []

        def popen(self, *args):
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
            return subprocess.Popen([orch_executable(), *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True)

        def json(self, *args):
            return json.loads(self.orch(*args, "--json").assert_success().out)

    return Project()


def finished_steps(db: Path) -> list[str]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return [row[0] for row in conn.execute("SELECT step FROM step_results ORDER BY finished")]
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        conn.close()


def test_a_run_killed_with_sigkill_keeps_its_finished_steps_and_resumes_in_a_new_process(project):
    (project.path / "gate.flag").write_text("closed")
    proc = project.popen("run", "gated.yaml", "--no-progress")
    try:
        wait_for(lambda: finished_steps(project.db) == ["a", "b"] and "c" in project.calls(), what="a, b done, c running")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    out, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert [json.loads(line)["step"] for line in out.splitlines()] == ["a", "b"]

    conn = sqlite3.connect(project.db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (status,) = conn.execute("SELECT status FROM runs").fetchone()
        keys = {k for (k,) in conn.execute("SELECT key FROM context_writes")}
    finally:
        conn.close()
    assert status == "running" and {"t.a_v1", "t.b_v1"} <= keys and "t.c_v1" not in keys
    listed = project.json("runs", "list")
    assert [r["status"] for r in listed] == ["killed"]  # its process is gone
    assert listed[0]["steps"] == {"ok": 2}
    shown = project.json("runs", "show", "latest")
    assert shown["not_run"] == ["c", "d"] and shown["unfinished_status"] == "not finished"
    table = project.orch("runs", "show").assert_success().out  # c was running: not "not run"
    assert [line.split()[:3] for line in table.splitlines() if line.split()[:1] in (["c"], ["d"])] == \
        [["c", "not", "finished"], ["d", "not", "finished"]]
    assert project.json("context", "show") == {"t.a_v1": 1, "t.b_v1": 2}

    (project.path / "gate.flag").unlink()
    resumed = project.run("gated.yaml", "--resume-from", "c").assert_success()
    assert [line["step"] for line in resumed.lines] == ["c", "d"]
    assert project.calls() == ["a", "b", "c", "c", "d"]  # a and b did not run again
    context = project.json("context", "show")
    assert context["t.sum_v1"] == 6 and context["t.a_v1"] == 1
    runs = project.json("runs", "list")
    assert [r["status"] for r in runs] == ["ok", "killed"]
    assert runs[0]["flags"]["resume_from"] == "c" and runs[0]["flags"]["started_from_run"] == runs[1]["id"]


def test_sigterm_records_the_run_as_interrupted(project):
    (project.path / "gate.flag").write_text("closed")
    proc = project.popen("run", "gated.yaml", "--no-progress")
    try:
        wait_for(lambda: "c" in project.calls(), what="step c to start")
        os.killpg(proc.pid, signal.SIGTERM)
        (project.path / "gate.flag").unlink()  # lets the abandoned step end too
        assert proc.wait(timeout=20) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    proc.communicate()
    run = project.json("runs", "show", "latest")
    assert run["status"] == "interrupted" and run["finished"] is not None
    assert [s["step"] for s in run["steps"]] == ["a", "b"]


def test_resume_after_a_failed_run_uses_the_recorded_context(project):
    (project.path / "fail.flag").write_text("on")
    failed = project.run("failing.yaml")
    assert failed.exit_code == 1 and failed.lines[-1]["reason"] == "flag file present"
    run = project.json("runs", "show", "latest")
    assert run["status"] == "error"
    assert run["steps"][1]["error"]["reason"] == "flag file present" and run["steps"][1]["status"] == "error"

    (project.path / "fail.flag").unlink()
    resumed = project.run("failing.yaml", "--resume-from", "f").assert_success()
    assert [line["step"] for line in resumed.lines] == ["f", "g"]
    context = project.json("context", "show")
    assert context["t.sum_v1"] == 5  # t.a_v1 came from the failed run
    metrics = context["_runner.step_metrics_v1"]  # the failed run's entries, f's replaced by its run here
    assert list(metrics) == ["a", "f", "g"] and [m["status"] for m in metrics.values()] == ["ok", "ok", "ok"]
    assert metrics["f"]["duration_ms"] == resumed.lines[0]["metrics"]["duration_ms"]
    assert project.calls() == ["a", "f", "f", "g"]

    again = project.run("failing.yaml", "--resume-from", "g").assert_success()  # from a resumed run
    assert [line["step"] for line in again.lines] == ["g"]
    context = project.orch("context", "show", "--json", "--run", "latest").assert_success()
    assert json.loads(context.out)["t.sum_v1"] == 5


def test_only_runs_just_the_selection_on_the_recorded_context(project):
    project.run("gated.yaml").assert_success()
    only = project.run("gated.yaml", "--only", "d", "--set", "ignored=1").assert_success()
    assert [line["step"] for line in only.lines] == ["d"]
    assert project.calls() == ["a", "b", "c", "d", "d"]
    assert project.json("context", "show")["t.sum_v1"] == 6
    history = project.json("context", "show", "t.sum_v1", "--history")
    assert [w["value"] for w in history] == [6, 6] and history[0]["run"] != history[1]["run"]


def test_only_after_a_run_that_stopped_early_takes_upstream_keys_from_their_last_success(project):
    project.run("failing.yaml").assert_success()  # a, f and g all succeed: t.d_v1 = 4
    (project.path / "fail.flag").write_text("on")
    assert project.run("failing.yaml").exit_code == 1  # the latest run stops at f: it has no t.d_v1
    (project.path / "fail.flag").unlink()
    only = project.run("failing.yaml", "--only", "g").assert_success()
    assert only.lines[0]["step"] == "g"
    assert project.json("context", "show")["t.sum_v1"] == 5
    runs = [line.split()[0] for line in project.orch("runs", "list").assert_success().out.splitlines()[1:]]
    # Said, not silent: f failed in the latest run before this one; its value is an older run's.
    assert (f"the latest run ({runs[1]}) has no success of 'f': the run starts with what it wrote in an "
            f"earlier run ({runs[2]})") in only.err
    history = project.json("context", "show", "t.d_v1", "--history")
    assert history[-1]["step"] == "f" and history[-1]["value"] == 4


def test_only_stops_when_a_dependency_never_succeeded(project):
    refused = project.run("gated.yaml", "--only", "d")
    assert refused.exit_code == 2 and refused.out == ""
    assert "step 'd' depends on 'c', which has never succeeded" in refused.err
    assert project.calls() == [] and project.json("runs", "list") == []

    (project.path / "fail.flag").write_text("on")
    assert project.run("failing.yaml").exit_code == 1
    refused = project.run("failing.yaml", "--only", "g")
    assert refused.exit_code == 2 and "'g' depends on 'f', which has never succeeded" in refused.err
    assert project.calls() == ["a", "f"]
    assert project.run("failing.yaml", "--only", "f", "g").exit_code == 1  # f is selected: allowed to run


def test_resume_from_with_nothing_recorded_starts_from_an_empty_context(project):
    # The guide's --resume-from "assumes prior context is reproducible or not needed".
    outcome = project.run("gated.yaml", "--resume-from", "d", "--set", "t.b_v1=5")
    assert outcome.exit_code == 0, outcome.err
    assert "no recorded run of recipe 'gated'" in outcome.err and "starting from an empty context" in outcome.err
    assert "starts without keys 't.c_v1'" in outcome.err and "steps 'a', 'b' write" in outcome.err
    assert [line["step"] for line in outcome.lines] == ["d"] and project.calls() == ["d"]
    assert project.json("context", "show", "t.sum_v1") == 5  # t.a_v1 and t.c_v1 were not there


def test_resume_takes_each_upstream_key_from_the_newest_run_where_its_step_succeeded(project):
    project.run("failing.yaml").assert_success()  # f writes t.d_v1 = 4
    (project.path / "failing.yaml").write_text(FAILING.replace("value: 4", "value: 7"))
    project.run("failing.yaml").assert_success()  # f writes t.d_v1 = 7: its newest success
    (project.path / "fail.flag").write_text("on")
    assert project.run("failing.yaml").exit_code == 1  # the latest run: a ok, f failed, so no t.d_v1
    (project.path / "fail.flag").unlink()
    runs = [r["id"] for r in project.json("runs", "list")]
    project.run("failing.yaml", "--only", "g").assert_success()
    assert project.json("context", "show")["t.sum_v1"] == 8
    carried = {w["key"]: w for w in project.json("context", "show", "--history") if w["carried"]}
    assert (carried["t.d_v1"]["value"], carried["t.d_v1"]["run"], carried["t.d_v1"]["step"]) == (7, runs[1], "f")
    assert (carried["t.a_v1"]["run"], carried["t.a_v1"]["step"]) == (runs[0], "a")  # from the latest run itself
    # and from a latest run that ran g alone: what it carried is what the next one starts from
    project.run("failing.yaml", "--resume-from", "g").assert_success()
    assert project.json("context", "show")["t.sum_v1"] == 8


OVERWRITING_STEPS = '''
from orchestrator_core import BaseScriptlet


class SetK(BaseScriptlet):
    name = "resume_set_k"

    def run(self, ctx, params):
        ctx.set("k", params["v"])


class Times(BaseScriptlet):
    name = "resume_times"

    def run(self, ctx, params):
        ctx.set("out", ctx.get("k") * 10)


class Collect(BaseScriptlet):
    name = "resume_collect"

    def run(self, ctx, params):
        ctx.append("seen", params["item"])
'''

# a sets k, b reads it, c sets it again: a step run again must read a's k, not c's.
OVERWRITING = """
name: overwriting
steps:
  - {name: a, module: resume_steps, function: SetK, params: {v: 1}}
  - {name: b, module: resume_steps, function: Times, depends_on: [a], cache: true}
  - {name: c, module: resume_steps, function: SetK, params: {v: 2}, depends_on: [b]}
"""

COLLECTING = """
name: collecting
steps:
  - {name: a, module: resume_steps, function: Collect, params: {item: a}}
  - {name: b, module: resume_steps, function: Collect, params: {item: b}, depends_on: [a]}
"""


@pytest.fixture
def overwriting(tmp_path, orch_cli):
    (tmp_path / "resume_steps.py").write_text(OVERWRITING_STEPS)
    (tmp_path / "overwriting.yaml").write_text(OVERWRITING)
    (tmp_path / "collecting.yaml").write_text(COLLECTING)

    def orch(*args):
        return orch_cli(*args, pythonpath=[tmp_path])

    return orch


def _value(orch, key):
    return json.loads(orch("context", "show", key).assert_success().out)


def test_a_step_run_again_reads_what_its_upstream_wrote_not_what_a_later_step_wrote_over_it(overwriting):
    orch = overwriting
    orch("run", "overwriting.yaml", "--no-progress").assert_success()
    assert (_value(orch, "out"), _value(orch, "k")) == (10, 2)
    for selection in (["--resume-from", "b"], ["--only", "b"]):
        outcome = orch("run", "overwriting.yaml", "--no-progress", *selection).assert_success()
        assert _value(orch, "out") == 10, selection  # b read a's k (1), not c's (2)
        assert outcome.lines[0]["step"] == "b" and outcome.lines[0]["cache"] == "hit"


def test_a_resumed_cached_step_is_fingerprinted_with_what_its_upstream_wrote(tmp_path, overwriting):
    orch = overwriting
    recipe = tmp_path / "overwriting.yaml"
    orch("run", "overwriting.yaml", "--no-progress").assert_success()
    recipe.write_text(OVERWRITING.replace("{v: 1}", "{v: 5}"))
    orch("run", "overwriting.yaml", "--no-progress").assert_success()
    recipe.write_text(OVERWRITING.replace("{v: 1}", "{v: 5}").replace("{v: 2}", "{v: 3}"))
    orch("run", "overwriting.yaml", "--no-progress").assert_success()
    assert (_value(orch, "out"), _value(orch, "k")) == (50, 3)
    outcome = orch("run", "overwriting.yaml", "--no-progress", "--resume-from", "b").assert_success()
    assert outcome.lines[0]["cache"] == "hit"  # a's k is 5, as when b last ran: the stored 50 is right
    assert _value(orch, "out") == 50


def test_a_merged_key_a_step_run_again_contributed_to_starts_without_its_contribution(overwriting):
    orch = overwriting
    orch("run", "collecting.yaml", "--no-progress").assert_success()
    assert _value(orch, "seen") == ["a", "b"]
    outcome = orch("run", "collecting.yaml", "--no-progress", "--resume-from", "b").assert_success()
    assert "contributions included" not in outcome.err  # rebuilt from a's contribution (test_resume_merged.py)
    assert _value(orch, "seen") == ["a", "b"]


def test_resume_from_names_an_upstream_step_that_never_succeeded(project):
    (project.path / "fail.flag").write_text("")
    assert project.run("failing.yaml").exit_code == 1
    outcome = project.run("failing.yaml", "--resume-from", "g")
    assert "depends on 'f', which has never succeeded" in outcome.err
    assert "starts without what 'f' writes" in outcome.err


CARRIED_OVERWRITE_STEPS = """
from orchestrator_core import BaseScriptlet


class A(BaseScriptlet):
    name = "ow_a"

    def run(self, ctx, params):
        ctx.set("k", 1)


class B(BaseScriptlet):
    name = "ow_b"

    def run(self, ctx, params):
        ctx.set("b_saw", ctx.get("k"))
        ctx.set("k", 2)


class C(BaseScriptlet):
    name = "ow_c"

    def run(self, ctx, params):
        ctx.set("c_saw", ctx.get("k"))
"""


def test_only_a_step_that_overwrote_a_carried_key_starts_from_the_earlier_writer_without_a_warning(tmp_path, orch_cli):
    """``a`` and ``b`` both write ``k``. After a run ``--resume-from c`` (which carried ``k`` as ``b``
    wrote it), ``--only b`` starts from ``a``'s write, found in the full run before: what ``b`` saw
    there. The latest run did not select ``a``, so taking its value from an earlier run is expected:
    no warning (one is for steps the latest run set out to run and did not finish)."""
    (tmp_path / "ow_steps.py").write_text(CARRIED_OVERWRITE_STEPS)
    (tmp_path / "r.yaml").write_text(
        "steps:\n"
        "  - {name: a, module: ow_steps, function: A}\n"
        "  - {name: b, module: ow_steps, function: B, depends_on: [a]}\n"
        "  - {name: c, module: ow_steps, function: C, depends_on: [b]}\n")
    env = {"PYTHONPATH": str(tmp_path)}
    orch_cli("run", "r.yaml", "--no-progress", env=env).assert_success()
    orch_cli("run", "r.yaml", "--resume-from", "c", "--no-progress", env=env).assert_success()
    only = orch_cli("run", "r.yaml", "--only", "b", "--no-progress", env=env).assert_success()
    assert "WARNING" not in only.err and "has no success of" not in only.err, only.err
    context = json.loads(orch_cli("context", "show", "--json").assert_success().out)
    assert context["b_saw"] == 1 and context["k"] == 2
