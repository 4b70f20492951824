"""The process executor through the real ``orch`` command, with a third-party pack on PYTHONPATH."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from orchestrator_core.testing.interpreter import interpreter_modules

ORCH = str(Path(sys.executable).parent / "orch")


def lines_by_step(outcome) -> dict[str, dict]:
    return {line["step"]: line for line in outcome.lines}


def test_the_plugin_is_listed_and_declares_its_option(orch_cli):
    plugins = {p["name"]: p for p in json.loads(orch_cli("plugins", "list", "--json").assert_success().out)}
    process = plugins["process"]
    assert (process["distribution"], process["module"], process["hooks"], process["error"]) == (
        "orchestrator-process", "orchestrator_process.plugin", ["orch_register_executors"], None)
    help_text = orch_cli("run", "--help").assert_success().out
    assert "--process-workers" in help_text and "ORCH_PROCESS_WORKERS" in help_text


def test_steps_run_in_worker_processes_and_their_prints_stay_off_stdout(orch_run, tmp_path):
    outcome, context = orch_run("""
        steps:
          - {name: on_process, uses: where_am_i, executor: process, params: {slot: a}}
          - {name: cpu_bound, uses: cpu_bound, params: {slot: b}}
          - {name: inline, uses: where_am_i, params: {slot: c}}
          - {name: keys, uses: see_keys, executor: process}
    """, "--events", "events.jsonl")
    outcome.assert_success()
    assert [line["status"] for line in outcome.lines] == ["ok"] * 4  # stdout is JSON lines only
    assert "noise on stdout from a step" in outcome.err
    assert "noise from a program a step started" in outcome.err
    orch_pid = context["probe.c_pid_v1"]
    assert context["probe.a_pid_v1"] != orch_pid
    assert context["probe.b_pid_v1"] != orch_pid
    # A worker sees only the keys its scriptlet declares as inputs.
    assert context["probe.keys_v1"] == ["probe.a_pid_v1"]
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    executors = {e["step"]: e["executor"] for e in events if e["event"] == "step_finish"}
    assert executors == {"on_process": "process", "cpu_bound": "process", "inline": "inline", "keys": "process"}


def test_one_worker_serves_every_step_so_start_up_is_paid_once(orch_run):
    outcome, context = orch_run("""
        steps:
          - {name: one, uses: where_am_i, params: {slot: a}}
          - {name: two, uses: where_am_i, params: {slot: b}}
          - {name: three, uses: where_am_i, params: {slot: c}}
    """, "--executor", "process", "--process-workers", "1")
    outcome.assert_success()
    pids = {context[f"probe.{slot}_pid_v1"] for slot in "abc"}
    assert len(pids) == 1


def test_the_workers_a_run_needs_are_forked_from_orch_at_once(orch_run):
    # Two steps for the pool, the second after the first: both workers start with the pool
    # (not one per arrival, and not the third --process-workers allows), forked from orch
    # itself, which is single-threaded then: no fork server or resource tracker runs.
    outcome, context = orch_run("""
        steps:
          - {name: inline, uses: where_am_i, params: {slot: a}}
          - {name: first, uses: family, executor: process, params: {slot: b}}
          - {name: second, uses: family, executor: process, params: {slot: c}, depends_on: [first]}
    """, "--process-workers", "3")
    outcome.assert_success()
    # Stdout carries each step's line once: the workers forked after the inline step's add none.
    assert [line["step"] for line in outcome.lines] == ["inline", "first", "second"]
    orch_pid = context["probe.a_pid_v1"]
    first, second = context["probe.b_family_v1"], context["probe.c_family_v1"]
    assert first["parent"] == second["parent"] == orch_pid
    assert len(first["children"]) == 2 and first["pid"] in first["children"]
    assert second["children"] == first["children"]  # no worker started since


def test_no_more_workers_start_than_steps_can_be_in_flight(orch_run):
    outcome, context = orch_run("""
        steps:
          - {name: first, uses: family, executor: process, params: {slot: b}, depends_on: []}
          - {name: second, uses: family, executor: process, params: {slot: c}, depends_on: []}
    """, "--process-workers", "3", "--workers", "1")
    outcome.assert_success()
    first, second = context["probe.b_family_v1"], context["probe.c_family_v1"]
    assert first["children"] == second["children"] == [first["pid"]] == [second["pid"]]


def test_forking_the_workers_imports_no_multiprocessing_into_orch(orch_run):
    # A forked worker has the modules orch had when the pool started, and no more:
    # multiprocessing (~12 ms to import, before any worker could start) is not among them.
    outcome, context = orch_run("""
        steps:
          - {name: modules, uses: modules, executor: process, params: {slot: a}}
    """)
    outcome.assert_success()
    added = set(context["probe.a_modules_v1"]) - interpreter_modules(os.environ)
    assert "orchestrator_process.forked" in added  # the list is orch's: the worker was forked from it
    assert not {name for name in added if name.split(".")[0] == "multiprocessing"}


def test_once_orch_has_threads_workers_come_from_the_fork_server(orch_run, tmp_path):
    # A thread step starts first, so orch has threads when the pool starts: forking it is unsafe.
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    outcome, context = orch_run(f"""
        steps:
          - {{name: nap, uses: nap, params: {{pid_dir: "{pid_dir}", seconds: 0.5}}}}
          - {{name: first, uses: family, executor: process, params: {{slot: b}}, depends_on: []}}
          - {{name: inline, uses: where_am_i, params: {{slot: a}}, depends_on: [nap, first]}}
    """, "--workers", "2")
    outcome.assert_success()
    orch_pid = context["probe.a_pid_v1"]
    first = context["probe.b_family_v1"]
    assert first["parent"] != orch_pid and first["grandparent"] == orch_pid


def test_crashed_workers_fail_only_their_steps_and_the_run_goes_on(orch_run):
    started = time.monotonic()
    outcome, context = orch_run("""
        steps:
          - {name: segv, uses: crash, params: {how: segv}, depends_on: []}
          - {name: exit3, uses: crash, params: {how: exit}, depends_on: []}
          - {name: raises, uses: crash, params: {how: raise}, depends_on: []}
          - {name: after_a, uses: where_am_i, params: {slot: a}, depends_on: []}
          - {name: after_b, uses: where_am_i, params: {slot: b}, depends_on: []}
    """, "--executor", "process", "--process-workers", "2", "--workers", "2", "--keep-going", timeout=30)
    assert outcome.exit_code == 1, outcome.err
    assert time.monotonic() - started < 20
    lines = lines_by_step(outcome)
    assert set(lines) == {"segv", "exit3", "raises", "after_a", "after_b"}
    segv, exit3, raises = lines["segv"], lines["exit3"], lines["raises"]
    assert (segv["status"], segv["reason"], segv["exit_code"]) == ("error", "worker process died (signal 11)", 139)
    assert segv["details"]["signal_name"] == "SIGSEGV" and segv["details"]["pid"] > 0
    assert set(segv) >= {"status", "reason", "details", "exit_code", "step", "ts"}
    assert (exit3["reason"], exit3["exit_code"]) == ("worker process died (exit code 3)", 3)
    assert (raises["reason"], raises["details"]) == ("asked to fail", {"how": "raise"})
    assert lines["after_a"]["status"] == lines["after_b"]["status"] == "ok"
    assert context["probe.a_pid_v1"] != segv["details"]["pid"]


def test_a_step_interrupted_in_its_worker_fails_saying_so_and_the_worker_serves_on(orch_run):
    outcome, context = orch_run("""
        steps:
          - {name: interrupted, uses: crash, params: {how: interrupt}}
          - {name: after, uses: where_am_i, params: {slot: a}, depends_on: []}
    """, "--executor", "process", "--process-workers", "1", "--workers", "1", "--keep-going", timeout=30)
    assert outcome.exit_code == 1, outcome.err
    lines = lines_by_step(outcome)
    interrupted = lines["interrupted"]
    assert interrupted["status"] == "error" and "interrupted in its worker process" in interrupted["reason"]
    assert "signal 9" not in interrupted["reason"] and "out-of-memory" not in json.dumps(interrupted)
    assert lines["after"]["status"] == "ok"


def test_a_worker_that_dies_leaving_a_forked_child_is_noticed_and_the_child_goes_too(orch_run, tmp_path, procs):
    # The child holds copies of the worker's pipes: only the worker's own end (its pidfd) tells
    # that it died, and its process group takes the child with it.
    pidfile = tmp_path / "orphan.pid"
    started = time.monotonic()
    outcome, context = orch_run(f"""
        steps:
          - {{name: orphan, uses: orphan, executor: process, params: {{pidfile: "{pidfile}"}}}}
          - {{name: after, uses: where_am_i, executor: process, params: {{slot: a}}, depends_on: []}}
    """, "--keep-going", timeout=60)
    assert outcome.exit_code == 1, outcome.err
    assert time.monotonic() - started < 30  # not the child's 600 s
    lines = lines_by_step(outcome)
    assert (lines["orphan"]["reason"], lines["orphan"]["exit_code"]) == ("worker process died (exit code 3)", 3)
    assert lines["after"]["status"] == "ok"
    assert procs.wait_until(lambda: not procs.alive(int(pidfile.read_text())), timeout=5)


def test_a_step_over_its_timeout_is_killed_with_what_it_started(orch_run, tmp_path, procs):
    pidfile = tmp_path / "hang.pids"
    started = time.monotonic()
    outcome, context = orch_run(f"""
        steps:
          - {{name: hang, uses: hang, executor: process, timeout: 3, params: {{pidfile: "{pidfile}"}}}}
          - {{name: next, uses: where_am_i, executor: process, params: {{slot: a}}, depends_on: []}}
    """, "--keep-going", timeout=30)
    elapsed = time.monotonic() - started
    assert outcome.exit_code == 1, outcome.err
    lines = lines_by_step(outcome)
    assert (lines["hang"]["reason"], lines["hang"]["exit_code"]) == ("step timed out after 3 s", 124)
    assert lines["next"]["status"] == "ok"
    assert elapsed < 15  # 3 s and the kill; a loaded machine needs the 3 s to start the worker and its children
    worker, own_session, in_group = map(int, pidfile.read_text().split())
    # orch has returned: the worker, the program the step stopped itself and the one left in
    # the worker's group are all gone (reaping by init may lag a moment).
    assert procs.wait_until(lambda: not any(map(procs.alive, (worker, own_session, in_group))), timeout=3)


def test_ctrl_c_stops_the_run_and_leaves_no_process_behind(tmp_path, marked_env, procs):
    marker, env = marked_env
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    (tmp_path / "recipe.yaml").write_text(textwrap.dedent(f"""
        steps:
          - {{name: nap1, uses: nap, executor: process, params: {{pid_dir: "{pid_dir}"}}, depends_on: []}}
          - {{name: nap2, uses: nap, executor: process, params: {{pid_dir: "{pid_dir}"}}, depends_on: []}}
          - {{name: later, uses: where_am_i, params: {{slot: a}}}}
    """))
    proc = subprocess.Popen([ORCH, "run", "recipe.yaml", "--no-progress", "--process-workers", "2"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert procs.wait_until(lambda: len(list(pid_dir.glob("*.pid"))) == 2, timeout=20)
        workers = [int(p.stem) for p in pid_dir.glob("*.pid")]
        assert all(procs.alive(pid) for pid in workers)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "later" not in out
    assert procs.wait_until(lambda: not procs.marked(marker), timeout=5), procs.marked(marker)
    assert not any(map(procs.alive, workers))


def test_a_bad_worker_count_is_refused_before_anything_runs(orch_run, orch_cli, testpack, tmp_path):
    recipe = """
        steps:
          - {name: first, uses: where_am_i, params: {slot: a}}
          - {name: one, uses: where_am_i, executor: process, params: {slot: b}, depends_on: [first]}
    """
    outcome, context = orch_run(recipe, "--process-workers", "0")
    assert outcome.exit_code == 2
    assert "--process-workers must be a whole number of at least 1" in outcome.err
    assert outcome.out == "" and context is None  # exit 2: not even the inline step ran, no run started
    assert not (tmp_path / ".orch" / "state.db").exists()  # and no run is left recorded as running
    with_env = orch_cli("run", "recipe.yaml", "--no-progress", pythonpath=[testpack],
                        env={"ORCH_PROCESS_WORKERS": "0"})
    assert with_env.exit_code == 2 and with_env.out == "" and "at least 1" in with_env.err and "got 0" in with_env.err
