"""A saturated thread pool: quick steps run on the runner's own thread, and nothing else changes.

When as many steps are in flight as ``--workers``, a ready parallel step of a handler known
quick (``CALLER_RUNS_AFTER`` runs, nearly all under a millisecond) and without a timeout runs on
the runner's thread instead of waiting in the queue (``run/admission.py``). What users
see must not change: every step runs once and succeeds, the JSON lines and the metrics key are in
plan order, and each step's metrics say truthfully where it ran.
"""

from __future__ import annotations

import threading

import pytest

from orchestrator_core import BaseScriptlet, hookimpl
from orchestrator_core.model import METRICS_KEY
from orchestrator_core.run.admission import CALLER_RUNS_AFTER
from orchestrator_core.run.readiness import Readiness
from orch_test_helpers import write_wide_fan


class WhereAmI(BaseScriptlet):
    """Write the name of the thread the step ran on to ``t.<step>_thread_v1``."""

    name = "where_am_i"
    outputs = None
    parallelizable = True

    def run(self, ctx, params):
        ctx.set(f"t.{ctx.step}_thread_v1", threading.current_thread().name)


HELD = threading.Event()  # set by ``release_held``: ``held_open`` steps end


class HeldOpen(BaseScriptlet):
    """Stays in flight until a ``release_held`` step has run (at most a minute)."""

    name = "held_open"
    outputs = ()
    parallelizable = True

    def run(self, ctx, params):
        HELD.wait(60)


class ReleaseHeld(BaseScriptlet):
    """Ends the ``held_open`` steps."""

    name = "release_held"
    outputs = ()
    parallelizable = True  # it runs beside them: one that must run alone would wait for them to end

    def run(self, ctx, params):
        HELD.set()


class WhereAmIPlugin:
    @hookimpl
    def orch_register_scriptlets(self):
        return [WhereAmI, HeldOpen, ReleaseHeld]


def fan_out(width: int, extra: str = "", first: str = "", last: str = "noop") -> str:
    """root, then ``first`` (a step's line, started before the fan), ``width`` parallel steps, and
    ``last`` (the scriptlet of the step after them)."""
    steps = ["  - {name: root, uses: noop}"] + ([first] if first else [])
    steps += [f"  - {{name: p{i:03d}, uses: where_am_i, depends_on: [root]{extra}}}" for i in range(width)]
    steps.append(f"  - {{name: last, uses: {last}, depends_on: [{', '.join(f'p{i:03d}' for i in range(width))}]}}")
    return "steps:\n" + "\n".join(steps) + "\n"


@pytest.fixture
def where_pm(sample_pm, register_plugin):
    register_plugin(WhereAmIPlugin(), "where")
    return sample_pm


def executors(outcome) -> dict[str, str]:
    return {name: figures["executor"] for name, figures in outcome.context[METRICS_KEY].items()}


def test_a_saturated_pool_runs_quick_steps_on_the_runner_thread_and_says_so(where_pm, run_orch_recipe):
    width = 300
    outcome = run_orch_recipe(fan_out(width), config={"executor": "thread", "workers": 2})
    assert outcome.error is None and outcome.result.ok
    names = ["root"] + [f"p{i:03d}" for i in range(width)] + ["last"]
    assert [line["step"] for line in outcome.lines] == names  # printed in plan order
    assert list(outcome.context[METRICS_KEY]) == names  # recorded in plan order
    assert all(line["status"] == "ok" for line in outcome.lines)
    ran_on = executors(outcome)
    here = [name for name in names[1:-1] if ran_on[name] == "inline"]
    pooled = [name for name in names[1:-1] if ran_on[name] == "thread"]
    assert len(here) + len(pooled) == width
    assert here, "a pool with every worker busy lets the runner run known-quick steps"
    assert len(pooled) >= CALLER_RUNS_AFTER, "a handler is known quick only after it ran on the pool"
    main = threading.main_thread().name
    for name in here:
        assert outcome.context[f"t.{name}_thread_v1"] == main
    for name in pooled:
        assert outcome.context[f"t.{name}_thread_v1"].startswith("orch-thread-")


def test_steps_with_a_timeout_always_run_on_the_pool(where_pm, run_orch_recipe):
    outcome = run_orch_recipe(fan_out(120, ", timeout: 60"), config={"executor": "thread", "workers": 2})
    assert outcome.result.ok
    ran_on = executors(outcome)
    assert {ran_on[f"p{i:03d}"] for i in range(120)} == {"thread"}


def test_steps_of_a_handler_that_is_not_quick_always_run_on_the_pool(sample_pm, run_orch_recipe):
    steps = ["  - {name: root, uses: noop}"]
    steps += [f"  - {{name: n{i:02d}, uses: sleepy, params: {{seconds: 0.002}}, parallelizable: true, "
              f"depends_on: [root]}}" for i in range(40)]
    outcome = run_orch_recipe("merge: {keys: {t.slept_v1: last_write_wins}}\nsteps:\n" + "\n".join(steps),
                              config={"executor": "thread", "workers": 2})
    assert outcome.result.ok
    ran_on = executors(outcome)
    assert {ran_on[f"n{i:02d}"] for i in range(40)} == {"thread"}


def test_a_pool_with_a_free_worker_runs_every_step_itself(where_pm, run_orch_recipe):
    """Never more ready steps than workers: nothing for the runner to help with."""
    outcome = run_orch_recipe(fan_out(3), config={"executor": "thread", "workers": 4})
    assert outcome.result.ok and set(executors(outcome).values()) == {"thread"}


class Step:
    def __init__(self, name: str, depends_on: tuple[str, ...] = ()):
        self.name = name
        self.depends_on = depends_on


def test_metrics_entries_settle_in_plan_order_whatever_order_they_come_in():
    import random

    rng = random.Random(7)
    for _ in range(200):
        width = rng.randrange(1, 60)
        readiness = Readiness([Step(f"s{i}") for i in range(width)])
        entries = {"earlier": 0}  # a step outside the plan (an earlier run's, on resume) stays in front
        finished = list(range(width))
        rng.shuffle(finished)
        for i in finished:
            readiness.in_plan_order(entries, f"s{i}", i)
            if rng.random() < 0.25:
                readiness.settle(entries)
        readiness.settle(entries)
        assert list(entries) == ["earlier"] + [f"s{i}" for i in range(width)]
        assert all(entries[f"s{i}"] == i for i in range(width))


def test_a_step_run_again_replaces_its_entry_from_an_earlier_run():
    readiness = Readiness([Step("b"), Step("c")])
    entries = {"a": "earlier a", "b": "earlier b"}
    readiness.in_plan_order(entries, "b", "this run's b")
    readiness.settle(entries)
    readiness.in_plan_order(entries, "c", "this run's c")
    readiness.settle(entries)
    assert entries == {"a": "earlier a", "b": "this run's b", "c": "this run's c"}
    assert list(entries) == ["a", "b", "c"]


def test_no_step_runs_on_the_runner_thread_while_a_step_with_a_timeout_is_in_flight(where_pm, run_orch_recipe):
    """The runner watches deadlines: it never runs a step itself while one it would have to stop is out."""
    HELD.clear()
    # started first, in flight until every other step ran, however long they take
    watched = "  - {name: watched, uses: held_open, timeout: 60, depends_on: [root]}"
    outcome = run_orch_recipe(fan_out(150, first=watched, last="release_held"),
                              config={"executor": "thread", "workers": 2})
    assert outcome.result.ok
    ran_on = executors(outcome)
    assert {ran_on[name] for name in [f"p{i:03d}" for i in range(150)] + ["last"]} == {"thread"}


def test_ctrl_c_while_the_runner_runs_steps_itself_ends_the_run_interrupted_and_recorded(tmp_path, orch_cli):
    import json
    import os
    import signal
    import sqlite3
    import subprocess
    import time

    from orchestrator_core.testing import orch_executable

    width = 20000
    write_wide_fan(tmp_path, width)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out_file, err_file = (tmp_path / "out.txt").open("w"), (tmp_path / "err.txt").open("w")  # a pipe would fill
    proc = subprocess.Popen([orch_executable(), "run", "wide.yaml", "--executor", "thread", "--workers", "2",
                             "--no-progress"], cwd=tmp_path, env=env, stdout=out_file, stderr=err_file,
                            start_new_session=True)
    db = tmp_path / ".orch" / "state.db"

    def recorded() -> int:
        if not db.exists():
            return 0
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM step_results").fetchone()[0]
        except sqlite3.OperationalError:
            return 0
        finally:
            conn.close()

    try:
        deadline = time.monotonic() + 60
        while recorded() < 2000 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run must still be going when Ctrl-C comes"
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out_file.close()
        err_file.close()
    out, err = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert proc.returncode == 130, err[-2000:]
    printed = [json.loads(line) for line in out.splitlines()]
    assert 2000 <= len(printed) < width + 1 and all(line["status"] == "ok" for line in printed)
    run = json.loads(orch_cli("runs", "show", "latest", "--json").assert_success().out)
    assert run["status"] == "interrupted"
    assert recorded() == len(printed), "every step recorded is printed, and only those"
    metrics = json.loads(orch_cli("context", "show", "--json").assert_success().out)["_runner.step_metrics_v1"]
    assert "inline" in {entry["executor"] for name, entry in metrics.items() if name != "root"}
