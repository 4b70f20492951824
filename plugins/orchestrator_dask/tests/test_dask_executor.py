"""The dask executor through the real ``orch`` command: a LocalCluster per run, and an outside cluster."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from orch_test_helpers import run_left_children

PIDS = ("probe.a_pid_v1", "probe.b_pid_v1")


def without_pids(context: dict) -> dict:
    return {k: v for k, v in context.items() if k not in PIDS}


def test_the_plugin_is_listed_and_orch_starts_without_importing_dask(orch_cli):
    plugins = {p["name"]: p for p in json.loads(orch_cli("plugins", "list", "--json").assert_success().out)}
    dask = plugins["dask"]
    assert (dask["distribution"], dask["module"], dask["hooks"], dask["error"]) == (
        "orchestrator-dask", "orchestrator_dask.plugin", ["orch_register_executors"], None)
    help_text = orch_cli("run", "--help").assert_success().out
    assert "--scheduler" in help_text and "ORCH_DASK_SCHEDULER" in help_text
    probe = ("import sys; from orchestrator_core.run.session import Session; "
             "names = Session().registry.names('executor'); "
             "print(sorted(names), sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed'}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60).stdout
    assert "'dask'" in out and out.strip().endswith("[]")


def test_a_fan_in_on_a_local_cluster_gives_the_context_of_an_inline_run(orch_run, fan_in_recipe):
    inline, inline_context = orch_run(fan_in_recipe)
    inline.assert_success()
    on_dask, dask_context = orch_run(fan_in_recipe, "--executor", "dask", "--workers", "2")
    on_dask.assert_success()
    assert without_pids(dask_context) == without_pids(inline_context)
    assert dask_context["fan.aggregate_v1"]["largest"] == 12
    assert dask_context["fan.history_v1"] == "aggregate"  # merged in recipe order, not completion order
    # The same lines, step for step (what they did, not how long it took).
    shape = lambda outcome: [(l["step"], l["status"], l["outputs"]) for l in outcome.lines]  # noqa: E731
    assert shape(on_dask) == shape(inline)
    assert "noise on stdout" not in on_dask.out
    # 'remote' ran on a Dask worker, 'local' (executor: inline) in orch itself.
    assert dask_context["probe.a_pid_v1"] != dask_context["probe.b_pid_v1"]


def test_failures_on_the_cluster_come_back_as_error_json(orch_run):
    outcome, context = orch_run("""
        steps:
          - {name: segv, uses: crash, params: {how: segv}, depends_on: []}
          - {name: raises, uses: crash, params: {how: raise}, depends_on: []}
          - {name: fine, uses: where_am_i, params: {slot: a}, depends_on: []}
    """, "--executor", "dask", "--workers", "2", "--keep-going")
    assert outcome.exit_code == 1, outcome.err
    lines = {line["step"]: line for line in outcome.lines}
    assert (lines["segv"]["status"], lines["segv"]["reason"]) == ("error", "dask worker died while running the step")
    assert lines["segv"]["details"]["type"] == "KilledWorker"
    assert set(lines["segv"]) >= {"status", "reason", "details", "exit_code", "step", "ts"}
    assert (lines["raises"]["reason"], lines["raises"]["details"]) == ("asked to fail", {"how": "raise"})
    assert lines["fine"]["status"] == "ok" and context["probe.a_pid_v1"] > 0


def test_a_run_on_an_outside_scheduler(orch_run, fan_in_recipe, dask_cluster):
    inline, inline_context = orch_run(fan_in_recipe)
    inline.assert_success()
    by_flag, flag_context = orch_run(fan_in_recipe, "--executor", "dask", "--scheduler", dask_cluster.address)
    by_flag.assert_success()
    assert without_pids(flag_context) == without_pids(inline_context)
    # 'remote' ran in the cluster's worker process, started apart from orch.
    assert flag_context["probe.a_pid_v1"] in dask_cluster.pids()
    assert flag_context["probe.b_pid_v1"] not in dask_cluster.pids()

    by_env, env_context = orch_run(fan_in_recipe, "--executor", "dask",
                                   env={"ORCH_DASK_SCHEDULER": dask_cluster.address})
    by_env.assert_success()
    assert env_context["probe.a_pid_v1"] == flag_context["probe.a_pid_v1"]  # the same single worker
    assert without_pids(env_context) == without_pids(inline_context)


def interrupt_two_naps(tmp_path: Path, env: dict[str, str], *, signals: int) -> tuple[int, str]:
    """Run two naps on a LocalCluster of two workers, send ``orch`` SIGINT ``signals`` times once both
    run (0.3 s apart); its exit status and stderr."""
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    (tmp_path / "recipe.yaml").write_text(f"""
steps:
  - {{name: nap1, uses: nap, params: {{pid_dir: "{pid_dir}"}}, depends_on: []}}
  - {{name: nap2, uses: nap, params: {{pid_dir: "{pid_dir}"}}, depends_on: []}}
""")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "orch"), "run", "recipe.yaml", "--no-progress",
                             "--executor", "dask", "--workers", "2"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while len(list(pid_dir.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(list(pid_dir.iterdir())) == 2
        for sent in range(signals):
            if sent:
                time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err


def test_ctrl_c_closes_the_runs_local_cluster(tmp_path, marked_env, procs):
    marker, env = marked_env
    status, err = interrupt_two_naps(tmp_path, env, signals=1)
    assert status == 130, err
    assert procs.wait_until(lambda: not procs.marked(marker), timeout=10), procs.marked(marker)


def test_a_second_ctrl_c_kills_the_cluster_quietly(tmp_path, marked_env, procs):
    """orch's own multiprocessing resource tracker is spared: killed, it would be relaunched and print
    a KeyError traceback for every semaphore the cluster then released."""
    marker, env = marked_env
    status, err = interrupt_two_naps(tmp_path, env, signals=2)
    assert status == 130, err
    assert "Traceback" not in err and "resource_tracker" not in err, err
    assert "orch: SIGINT again: killed" in err
    assert procs.wait_until(lambda: not procs.marked(marker), timeout=10), procs.marked(marker)


def test_the_children_of_a_timed_out_step_are_stopped_when_the_run_ends(tmp_path, marked_env, procs):
    """The task runs on after its timeout (a worker thread cannot be stopped); closing the cluster
    orphans what it started, and ``orch``, a subreaper since the timeout, stops it at the end."""
    marker, env = marked_env
    out, status = run_left_children(tmp_path, env, "--executor", "dask", "--workers", "1", timeout=90)
    assert status == 1, out
    assert "step timed out after 1 s" in out and "Traceback" not in out
    children = procs.pids(tmp_path / "children.pids", 2)
    assert procs.wait_until(lambda: not any(procs.alive(pid) for pid in children), timeout=5), \
        [pid for pid in children if procs.alive(pid)]
    assert not procs.marked(marker)


def test_an_unreachable_scheduler_is_a_usage_error(orch_run, fan_in_recipe):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome, _ = orch_run(fan_in_recipe, "--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}")
    assert outcome.exit_code == 2
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in outcome.err


def test_a_worker_killed_mid_step_has_the_step_run_again_on_another_worker(orch_run, fan_in_recipe,
                                                                          two_worker_cluster, procs, tmp_path):
    """A scheduler and two workers, each a separate process; the worker running the step is killed."""
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    recipe = fan_in_recipe + f"""
      - {{name: nap, uses: nap, params: {{pid_dir: "{pid_dir}", seconds: 3}}, depends_on: [remote, local]}}
      - {{name: after, uses: where_am_i, params: {{slot: c}}, depends_on: [nap]}}
"""
    killed: list[int] = []

    def kill_the_napping_worker() -> None:
        assert procs.wait_until(lambda: any(pid_dir.iterdir()), timeout=60)
        (first,) = [int(p.stem) for p in pid_dir.iterdir()]
        assert first in two_worker_cluster.worker_pids
        os.kill(first, signal.SIGKILL)
        killed.append(first)

    killer = threading.Thread(target=kill_the_napping_worker)
    killer.start()
    try:
        outcome, context = orch_run(recipe, "--executor", "dask", "--scheduler", two_worker_cluster.address)
    finally:
        killer.join()
    outcome.assert_success()
    lines = {line["step"]: line for line in outcome.lines}
    assert lines["nap"]["status"] == "ok" and lines["after"]["status"] == "ok"
    ran_on = sorted(int(p.stem) for p in pid_dir.iterdir())
    survivor = next(pid for pid in two_worker_cluster.worker_pids if pid != killed[0])
    assert ran_on == sorted([killed[0], survivor])  # started on the killed worker, finished on the other
    assert not procs.alive(killed[0]) and procs.alive(survivor)
    assert context["probe.c_pid_v1"] == survivor
