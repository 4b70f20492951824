"""The worker pool on its own: replacement of dead workers, cancellation, shutdown, a dying parent."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import time

import pytest

from orchestrator_core.builtin.python_step import PythonHandler
from orchestrator_core.model import StepTask
from orchestrator_process.pool import WorkerPool


@pytest.fixture
def probes(testpack_importable):
    return importlib.import_module("orch_process_testpack.steps.probes")


@pytest.fixture
def make_task(tmp_path):
    def make(cls, params=None, step="step"):
        return StepTask(step, "run-1", PythonHandler(cls), dict(params or {}), {}, str(tmp_path),
                        str(tmp_path / "Data"))
    return make


@pytest.fixture
def pool():
    pools: list[WorkerPool] = []

    def make(size: int, **options) -> WorkerPool:
        pools.append(WorkerPool(size, **options))
        return pools[-1]

    yield make
    for each in pools:
        each.shutdown(cancel=True)


def test_a_dead_worker_fails_its_task_and_is_replaced(pool, probes, make_task, procs):
    workers = pool(1)
    crashed = workers.submit(make_task(probes.Crash, {"how": "exit"}, step="crash")).result(timeout=20)
    assert (crashed.status, crashed.error["reason"], crashed.error["step"]) == (
        "error", "worker process died (exit code 3)", "crash")
    dead = crashed.error["details"]["pid"]
    ok = workers.submit(make_task(probes.WhereAmI, {"slot": "a"})).result(timeout=20)
    assert ok.ok and ok.delta[0].value not in (dead, None)
    assert not procs.alive(dead)


def test_cancelling_a_running_task_stops_its_worker_and_the_pool_goes_on(pool, probes, make_task, procs, tmp_path):
    workers = pool(1)
    pidfile = tmp_path / "hang.pids"
    future = workers.submit(make_task(probes.Hang, {"pidfile": str(pidfile)}))
    assert procs.wait_until(pidfile.exists, timeout=20)
    pids = list(map(int, pidfile.read_text().split()))
    workers.cancel(future)
    assert "cancelled" in future.result(timeout=1).error["reason"]
    assert procs.wait_until(lambda: not any(map(procs.alive, pids)), timeout=5)
    assert workers.submit(make_task(probes.WhereAmI, {"slot": "a"})).result(timeout=20).ok


def test_a_step_that_ignores_sigterm_is_killed_after_the_grace(pool, probes, make_task, procs, tmp_path):
    workers = pool(1, grace=2.0)  # the check below comes well within it, however late this test runs on
    pidfile = tmp_path / "stubborn.pid"
    future = workers.submit(make_task(probes.Stubborn, {"pidfile": str(pidfile)}))
    assert procs.wait_until(lambda: pidfile.exists() and pidfile.read_text(), timeout=20)
    pid = int(pidfile.read_text())
    workers.cancel(future)  # sends the SIGTERM
    time.sleep(0.1)
    assert procs.alive(pid)  # SIGTERM ignored ...
    assert procs.wait_until(lambda: not procs.alive(pid), timeout=20)  # ... SIGKILL, once the grace is over, is not


def test_a_queued_task_cancelled_never_runs(pool, probes, make_task, tmp_path):
    workers = pool(1)
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    first = workers.submit(make_task(probes.Nap, {"pid_dir": str(pid_dir), "seconds": 0.5}))
    second = workers.submit(make_task(probes.Nap, {"pid_dir": str(pid_dir), "seconds": 0.5}))
    workers.cancel(second)
    assert second.cancelled()
    assert first.result(timeout=20).ok
    assert len(list(pid_dir.iterdir())) == 1


def test_a_task_that_cannot_be_pickled_fails_its_step(pool, make_task):
    from orchestrator_core import BaseScriptlet

    class Local(BaseScriptlet):
        name = "local"

    result = pool(1).submit(make_task(Local, step="local")).result(timeout=5)
    assert result.status == "error"
    assert result.error["reason"].startswith("the step cannot be sent to a worker process")


def test_shutdown_with_cancel_stops_running_steps_quickly(probes, make_task, procs, tmp_path):
    workers = WorkerPool(2, grace=30.0)  # a worker that waited for its SIGKILL would take 30 s
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    futures = [workers.submit(make_task(probes.Nap, {"pid_dir": str(pid_dir), "seconds": 60})) for _ in range(3)]
    assert procs.wait_until(lambda: len(list(pid_dir.iterdir())) == 2, timeout=20)
    pids = [int(p.stem) for p in pid_dir.iterdir()]  # the name, made whole when the file is: its text may not be written yet
    started = time.monotonic()
    workers.shutdown(cancel=True)
    assert time.monotonic() - started < 10  # the steps stopped on SIGTERM
    assert [f.result(timeout=0).status for f in futures[:2]] == ["error", "error"]
    assert futures[2].cancelled()
    assert not workers.pids and not any(map(procs.alive, pids))


def test_shutdown_lets_queued_work_finish_then_stops_every_worker(probes, make_task, procs):
    workers = WorkerPool(2)
    futures = [workers.submit(make_task(probes.WhereAmI, {"slot": "a"})) for _ in range(4)]
    pids = set(workers.pids)
    workers.shutdown()
    assert all(f.result(timeout=0).ok for f in futures)
    assert not workers.pids and not any(map(procs.alive, pids))


@pytest.mark.parametrize("prestart", [0, 2], ids=["from-the-fork-server", "forked"])
def test_workers_stop_when_their_parent_is_killed(tmp_path, marked_env, procs, prestart):
    # Forked workers hold copies of the parent's descriptors: they must close its end of the
    # pipe whose closing tells them the parent is gone (and their siblings' too).
    marker, env = marked_env
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, time
        from orchestrator_core.builtin.python_step import PythonHandler
        from orchestrator_core.model import StepTask
        from orchestrator_process.pool import WorkerPool
        from orch_process_testpack.steps.probes import Nap

        if __name__ == "__main__":
            pool = WorkerPool(2, prestart={prestart})
            for n in range(2):
                pool.submit(StepTask(f"nap{{n}}", "run", PythonHandler(Nap), {{"pid_dir": {str(pid_dir)!r}}}, {{}},
                                     ".", "Data"))
            while len(os.listdir({str(pid_dir)!r})) < 2:
                time.sleep(0.05)
            with open("parents", "w") as parents:  # this process, then each worker's parent
                parents.write(f"{{os.getpid()}} ")
                for pid in pool.pids:
                    parents.write(open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1] + " ")
            os.kill(os.getpid(), signal.SIGKILL)
    """))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == -9, proc.stderr
    workers = [int(p.stem) for p in pid_dir.iterdir()]
    assert len(workers) == 2
    parent, *workers_parents = map(int, (tmp_path / "parents").read_text().split())
    assert [ppid == parent for ppid in workers_parents] == [bool(prestart)] * 2
    assert procs.wait_until(lambda: not procs.marked(marker), timeout=5), procs.marked(marker)
    # A process whose memory is already released shows no environment while it is still exiting.
    assert procs.wait_until(lambda: not any(map(procs.alive, workers)), timeout=5)
