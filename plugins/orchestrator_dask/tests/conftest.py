"""Fixtures of the dask executor's tests: a third-party pack, real ``orch`` runs, a real cluster.

The pack is what a user of orch would write: a package with scriptlets and an
``orchestrator`` entry point in its distribution metadata, on ``PYTHONPATH``. Dask
workers find its scriptlets there too (tasks carry classes by reference).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

from orch_test_helpers import Processes
from orchestrator_core.testing import context_recording_plugin, write_pack

PACK = "orch_dask_testpack"

STEPS = '''
"""Scriptlets of a fan-in, a probe of where a step ran, and failures."""

import os
import signal
import time

from orchestrator_core import BaseScriptlet, ScriptletError


class Seed(BaseScriptlet):
    name = "fan_seed"
    outputs = ("fan.numbers_v1",)

    def run(self, ctx, params):
        ctx.set("fan.numbers_v1", list(range(1, params.get("n", 10) + 1)))


class Total(BaseScriptlet):
    name = "fan_total"
    inputs = ("fan.numbers_v1",)
    outputs = ("fan.total_v1",)
    parallelizable = True

    def run(self, ctx, params):
        ctx.set("fan.total_v1", sum(ctx["fan.numbers_v1"]))


class Squares(BaseScriptlet):
    name = "fan_squares"
    inputs = ("fan.numbers_v1",)
    outputs = ("fan.squares_v1",)
    parallelizable = True

    def run(self, ctx, params):
        ctx.set("fan.squares_v1", sum(n * n for n in ctx["fan.numbers_v1"]))


class Largest(BaseScriptlet):
    name = "fan_largest"
    outputs = ("fan.largest_v1", "fan.history_v1")
    parallelizable = True

    def run(self, ctx, params):
        ctx.set("fan.largest_v1", max(ctx["fan.numbers_v1"]))
        ctx.set("fan.history_v1", "largest")


class Aggregate(BaseScriptlet):
    name = "fan_aggregate"
    outputs = ("fan.aggregate_v1", "fan.history_v1")

    def run(self, ctx, params):
        total, squares, count = ctx["fan.total_v1"], ctx["fan.squares_v1"], len(ctx["fan.numbers_v1"])
        mean = total / count
        ctx.set("fan.aggregate_v1", {"mean": mean, "variance": squares / count - mean * mean,
                                     "largest": ctx["fan.largest_v1"]})
        ctx.set("fan.history_v1", "aggregate")


class WhereAmI(BaseScriptlet):
    """Writes the id of the process it ran in."""

    name = "where_am_i"
    outputs = None  # writes the slot its params name (probe.{a,b,c,d}_pid_v1): conflicts are caught while running

    def run(self, ctx, params):
        print("noise on stdout from a step", flush=True)
        ctx.set(f"probe.{params['slot']}_pid_v1", os.getpid())


class Nap(BaseScriptlet):
    """Writes its pid to ``pid_dir``, then sleeps ``seconds``."""

    name = "nap"

    def run(self, ctx, params):
        with open(os.path.join(params["pid_dir"], f"{os.getpid()}.pid"), "w") as out:
            out.write(str(os.getpid()))
        time.sleep(params.get("seconds", 60))


class Crash(BaseScriptlet):
    """Kills its process (``segv``) or fails the ordinary way (``raise``)."""

    name = "crash"

    def run(self, ctx, params):
        if params["how"] == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
            time.sleep(5)
        raise ScriptletError("asked to fail", details={"how": params["how"]})
'''


FAN_IN = """
    steps:
      - {name: seed, uses: fan_seed, params: {n: 12}}
      - {name: total, uses: fan_total, depends_on: [seed]}
      - {name: squares, uses: fan_squares, depends_on: [seed]}
      - {name: largest, uses: fan_largest, depends_on: [seed]}
      - {name: aggregate, uses: fan_aggregate, depends_on: [total, squares, largest]}
      - {name: remote, uses: where_am_i, params: {slot: a}, depends_on: [aggregate]}
      - {name: local, uses: where_am_i, executor: inline, params: {slot: b}, depends_on: [aggregate]}
"""


@pytest.fixture(scope="session")
def testpack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for ``PYTHONPATH`` holding the pack and its distribution metadata."""
    return write_pack(tmp_path_factory.mktemp("pack"), PACK.replace("_", "-"), {
        f"{PACK}/__init__.py": "",
        f"{PACK}/steps/__init__.py": "",
        f"{PACK}/steps/fan.py": STEPS,
        f"{PACK}/plugin.py": context_recording_plugin(PACK),
    }, entry_points={"dasktestpack": f"{PACK}.plugin"})


@pytest.fixture
def fan_in_recipe() -> str:
    return FAN_IN


@pytest.fixture
def orch_run(orch_cli, testpack: Path, tmp_path: Path) -> Callable[..., tuple]:
    """``orch_run(recipe_text, *args, env=None)`` → (outcome, final context) of a real ``orch run``."""

    def run(recipe: str, *args: str, env: dict[str, str] | None = None, timeout: float = 90) -> tuple:
        (tmp_path / "recipe.yaml").write_text(textwrap.dedent(recipe))
        context_file = tmp_path / "context.json"
        context_file.unlink(missing_ok=True)
        outcome = orch_cli("run", "recipe.yaml", "--no-progress", *args, pythonpath=[testpack],
                           env={"ORCH_TESTPACK_CONTEXT": str(context_file), **(env or {})}, timeout=timeout)
        context = json.loads(context_file.read_text()) if context_file.exists() else None
        return outcome, context

    return run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def marked_env(marked_env: tuple[str, dict[str, str]], testpack: Path) -> tuple[str, dict[str, str]]:
    """The core's ``marked_env`` with the test pack importable."""
    marker, env = marked_env
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(testpack), os.environ.get("PYTHONPATH")]))
    return marker, env


@dataclass
class Cluster:
    address: str
    marker: str
    worker_pids: list[int] = field(default_factory=list)  # the `dask worker` processes (nanny or worker)

    def pids(self) -> list[int]:
        """Every process of the cluster: scheduler, worker, nanny and their children."""
        return Processes.marked(self.marker)


@pytest.fixture(scope="module")
def dask_cluster(testpack: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A scheduler and one worker started as separate ``dask`` processes; always stopped."""
    with running_cluster(testpack, tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture
def two_worker_cluster(testpack: Path, tmp_path: Path) -> Iterator[Cluster]:
    """A scheduler and two workers without nannies (a killed worker stays dead), for this test only."""
    logs = tmp_path / "cluster"
    logs.mkdir()
    with running_cluster(testpack, logs, workers=2, nanny=False) as cluster:
        yield cluster


@contextlib.contextmanager
def running_cluster(testpack: Path, logs: Path, *, workers: int = 1, nanny: bool = True) -> Iterator[Cluster]:
    """A ``dask scheduler`` and ``workers`` ``dask worker`` processes; every one of them stopped on exit."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    marker = f"dask-{os.getpid()}-{time.monotonic_ns()}"
    env = dict(os.environ, ORCH_TEST_MARK=marker,
               PYTHONPATH=os.pathsep.join(filter(None, [str(testpack), os.environ.get("PYTHONPATH")])))
    started: list[subprocess.Popen] = []

    def start(*args: str, log: str) -> subprocess.Popen:
        with open(logs / log, "w") as out:
            started.append(subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=logs, env=env,
                                            stdout=out, stderr=subprocess.STDOUT))
        return started[-1]

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", log="scheduler.log")
        worker_procs = [
            start("worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                  *([] if nanny else ["--no-nanny"]), log=f"worker{i}.log")
            for i in range(workers)
        ]
        _wait_for_worker(address, started, logs, workers)
        yield Cluster(address, marker, [p.pid for p in worker_procs])
    finally:
        for proc in reversed(started):
            proc.terminate()
        for proc in reversed(started):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in Processes.marked(marker):  # anything a worker left behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _wait_for_worker(address: str, started: list[subprocess.Popen], logs: Path, count: int = 1) -> None:
    check = ("import sys; from distributed import Client; "
             f"c = Client({address!r}, timeout=20); c.wait_for_workers({count}, timeout=30); c.close()")
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    dead = [p.args[1] for p in started if p.poll() is not None]
    assert proc.returncode == 0 and not dead, (
        f"cluster did not start (exited: {dead})\n{proc.stderr}\n"
        + "\n".join(f"--- {log.name}\n{log.read_text()}" for log in logs.glob("*.log")))
