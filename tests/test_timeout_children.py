"""What a step abandoned at its timeout started does not outlive ``orch run``.

A thread step's thread cannot be killed, so at its timeout the runner writes it off; the
programs it started used to live on after ``orch`` exited, holding its output open (``orch
run R 2>&1 | cat`` waited for them). When such a run ends, ``orch`` now stops every process it
started (SIGTERM, then SIGKILL), one that left its session (``setsid``) included: from the
first step written off, ``orch`` is a subreaper, so a child orphaned when the process executor
stops its worker stays within reach. The dask executor's case is in its plugin's tests.
"""

from __future__ import annotations

import pytest

from orch_test_helpers import run_left_children


@pytest.mark.parametrize("executor", ["inline", "thread", "process"])
def test_the_children_of_a_timed_out_step_are_stopped_when_the_run_ends(tmp_path, marked_env, procs, executor):
    marker, env = marked_env
    out, status = run_left_children(tmp_path, env, "--executor", executor)
    assert status == 1, out
    assert "step timed out after 1 s" in out and "Traceback" not in out
    assert "still running when the run ended, after step(s) 'kids' timed out" in out
    children = procs.pids(tmp_path / "children.pids", 2)
    assert procs.wait_until(lambda: not any(procs.alive(pid) for pid in children), timeout=5), \
        [pid for pid in children if procs.alive(pid)]
    assert not procs.marked(marker)


def test_a_run_without_a_timeout_leaves_the_processes_its_steps_started(tmp_path, marked_env, procs, orch_cli):
    """Only a step written off still running has what it started stopped: a step that finished and
    left a program running on purpose keeps it."""
    marker, env = marked_env
    (tmp_path / "daemon.py").write_text(
        "import subprocess\nfrom orchestrator_core import BaseScriptlet\n\n\n"
        "class StartDaemon(BaseScriptlet):\n"
        "    def run(self, ctx, params):\n"
        "        child = subprocess.Popen(['sleep', '600'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "        open('daemon.pid', 'w').write(str(child.pid))\n")
    (tmp_path / "r.yaml").write_text("steps:\n  - {name: d, module: daemon, function: StartDaemon}\n")
    outcome = orch_cli("run", "r.yaml", "--no-progress", "--executor", "thread", pythonpath=[tmp_path], env=env)
    outcome.assert_success()
    [daemon] = procs.pids(tmp_path / "daemon.pid")
    assert procs.alive(daemon)
    assert "stopped" not in outcome.err
