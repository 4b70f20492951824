"""A step that ends its process (``os._exit``, ``os.abort``, a fatal signal), through the real ``orch``.

On the ``inline`` and ``thread`` executors a step runs in orch's own process: ``os._exit(0)``
there used to end ``orch`` with status 0, the run unfinished and nothing recorded. It now fails
the step, like a worker process that dies under its step on the ``process`` executor, and the
run exits 1. Only orch's own process is guarded: a child a step forks exits as it asks.
Dying of a signal (``os.abort``, ``SIGKILL``) already gives the shell a non-zero status.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap

import pytest

from orchestrator_core.errors import StepFailedError

STEPS = textwrap.dedent('''
    import os
    import signal
    import threading
    import time

    from orchestrator_core import BaseScriptlet


    class End(BaseScriptlet):
        """Ends the process the way param ``how`` says, after ``delay`` seconds."""

        outputs = ()
        parallelizable = True

        def run(self, ctx, params):
            time.sleep(params.get("delay", 0))
            how = params["how"]
            if how == "exit":
                os._exit(params.get("code", 0))
            if how == "exit_in_a_thread":  # a thread the step started, not the step's own
                threading.Thread(target=os._exit, args=(0,)).start()
                time.sleep(5)
            if how == "fork":  # a child process exits as it asks
                pid = os.fork()
                if pid == 0:
                    os._exit(params["code"])
                _, status = os.waitpid(pid, 0)
                return {"child_status": os.waitstatus_to_exitcode(status)}
            if how == "abort":
                os.abort()
            if how == "sigkill":
                signal.raise_signal(signal.SIGKILL)


    class Mark(BaseScriptlet):
        outputs = ()
        parallelizable = True

        def run(self, ctx, params):
            time.sleep(params.get("delay", 0))
''')

EXIT_THEN_MARK = """
    steps:
      - {name: boom, module: exit_steps, function: End, params: {how: exit, code: %s}}
      - {name: after, module: exit_steps, function: Mark, depends_on: [boom]}
"""


@pytest.fixture
def orch(tmp_path, monkeypatch, orch_cli):
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    (tmp_path / "exit_steps.py").write_text(STEPS)

    def run(recipe: str, *args: str):
        (tmp_path / "r.yaml").write_text(textwrap.dedent(recipe))
        return orch_cli("run", "r.yaml", "--no-progress", *args, pythonpath=[tmp_path])

    def recorded() -> tuple[str, dict[str, str]]:
        shown = json.loads(orch_cli("runs", "show", "latest", "--json").assert_success().out)
        return shown["status"], {step["step"]: step["status"] for step in shown["steps"]}

    run.recorded = recorded
    return run


@pytest.mark.parametrize("executor", ["inline", "thread"])
@pytest.mark.parametrize("code", [0, 3])
def test_os_exit_in_a_step_in_orchs_process_fails_the_step_not_orch(orch, executor, code):
    outcome = orch(EXIT_THEN_MARK % code, "--executor", executor)
    assert outcome.exit_code == 1, outcome.err
    [line] = outcome.lines  # ``after`` never starts
    assert (line["step"], line["status"]) == ("boom", "error")
    assert line["reason"].startswith(f"os._exit({code}) called at ") and "exit_steps.py" in line["reason"]
    assert line["details"]["type"] == "StepExited"
    assert "Traceback" not in outcome.err
    assert orch.recorded() == ("error", {"boom": "error"})


def test_os_exit_in_a_process_step_fails_it_the_same_way(orch):
    outcome = orch(EXIT_THEN_MARK % 0, "--executor", "process")
    assert outcome.exit_code == 1
    [line] = outcome.lines
    assert (line["step"], line["status"]) == ("boom", "error")
    assert orch.recorded() == ("error", {"boom": "error"})


def test_os_exit_of_a_step_abandoned_at_its_timeout_cannot_end_the_run(orch):
    """The step's thread is written off at 0.3 s and calls os._exit(0) at 1.2 s; the run goes on to 2.5 s."""
    outcome = orch("""
        steps:
          - {name: late, module: exit_steps, function: End, params: {how: exit, delay: 1.2}, timeout: 0.3}
          - {name: long, module: exit_steps, function: Mark, params: {delay: 2.5}, depends_on: []}
    """, "--executor", "thread", "--workers", "2", "--keep-going")
    assert outcome.exit_code == 1, outcome.err
    lines = {line["step"]: line for line in outcome.lines}
    assert lines["late"]["exit_code"] == 124 and lines["long"]["status"] == "ok"
    assert orch.recorded() == ("error", {"late": "error", "long": "ok"})


def test_os_exit_0_from_a_thread_a_step_started_is_not_a_success(orch):
    outcome = orch("""
        steps:
          - {name: helper, module: exit_steps, function: End, params: {how: exit_in_a_thread}}
    """, "--executor", "thread")
    assert outcome.exit_code == 1
    assert "os._exit(0) called outside any step before the run finished" in outcome.err


@pytest.mark.parametrize("executor", ["inline", "thread"])
def test_a_child_a_step_forks_exits_with_the_status_it_asks(orch, executor):
    outcome = orch("""
        steps:
          - {name: forks, module: exit_steps, function: End, params: {how: fork, code: 7}}
    """, "--executor", executor)
    assert outcome.exit_code == 0, outcome.err
    assert [(line["status"], line["child_status"]) for line in outcome.lines] == [("ok", 7)]


@pytest.mark.parametrize("how, signum", [("abort", signal.SIGABRT), ("sigkill", signal.SIGKILL)])
def test_a_step_that_kills_orchs_process_leaves_a_non_zero_status(orch, how, signum):
    outcome = orch(f"""
        steps:
          - {{name: dies, module: exit_steps, function: End, params: {{how: {how}}}}}
    """, "--executor", "thread")
    assert outcome.exit_code == -signum  # the shell sees 128 + signum


def test_run_recipe_guards_os_exit_only_while_it_runs(tmp_path, monkeypatch):
    """From Python: the step fails (StepFailedError), and ``os._exit`` is the real one again after."""
    from orchestrator_core import run_recipe

    real_exit = os._exit
    (tmp_path / "exit_steps.py").write_text(STEPS)
    (tmp_path / "r.yaml").write_text(textwrap.dedent(EXIT_THEN_MARK % 0))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ORCH_STATE_DIR", str(tmp_path / "state"))
    with pytest.raises(StepFailedError) as failed:
        run_recipe(tmp_path / "r.yaml", executor="inline", workdir=tmp_path, stdout=open(os.devnull, "w"))
    assert failed.value.result.steps["boom"].error["details"]["type"] == "StepExited"
    assert os._exit is real_exit
