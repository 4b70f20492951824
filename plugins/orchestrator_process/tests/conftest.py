"""Fixtures of the process executor's tests: a third-party scriptlet pack and a few process probes.

The pack is what a user of orch would write: a package with scriptlets and an
``orchestrator`` entry point in its distribution metadata. It is put on
``PYTHONPATH`` (not installed), which is how worker processes, forked or started by the
fork server, find it too: scriptlets travel pickled by reference.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from orchestrator_core.testing import context_recording_plugin, write_pack

PACK = "orch_process_testpack"

STEPS = '''
"""Scriptlets that report where they ran, crash, hang, nap, and fan in."""

import os
import signal
import subprocess
import time
from pathlib import Path

from orchestrator_core import BaseScriptlet, ScriptletError


class WhereAmI(BaseScriptlet):
    """Writes the id of the process it ran in, and prints to stdout (which must not reach orch's)."""

    name = "where_am_i"
    outputs = None  # writes the slot its params name (probe.{a,b,c,d}_pid_v1): conflicts are caught while running

    def run(self, ctx, params):
        print("noise on stdout from a step", flush=True)
        os.system("echo noise from a program a step started")
        ctx.set(f"probe.{params['slot']}_pid_v1", os.getpid())


class CpuBound(WhereAmI):
    """The same probe, declared CPU-bound: it goes to the process executor by itself."""

    name = "cpu_bound"
    requires_process = True


class SeeKeys(BaseScriptlet):
    """Writes the context keys it can see; it declares one input."""

    name = "see_keys"
    inputs = ("probe.a_pid_v1",)
    outputs = ("probe.keys_v1",)

    def run(self, ctx, params):
        ctx.set("probe.keys_v1", sorted(ctx.keys()))


class Crash(BaseScriptlet):
    """Ends its process (``exit``, ``segv``), is interrupted (``interrupt``: a SIGINT sent to
    its own process) or fails the ordinary way (``raise``)."""

    name = "crash"

    def run(self, ctx, params):
        how = params["how"]
        if how == "exit":
            os._exit(3)
        if how == "interrupt":
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        if how == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
            time.sleep(5)
        raise ScriptletError("asked to fail", details={"how": how})


class Hang(BaseScriptlet):
    """Starts two programs, writes the three pids to ``pidfile``, then waits forever.

    One program is in a session of its own (only this step's cleanup can stop it),
    the other stays in the worker's process group (the executor's SIGKILL reaches it).
    """

    name = "hang"

    def run(self, ctx, params):
        own_session = subprocess.Popen(["sleep", "600"], start_new_session=True)
        in_group = subprocess.Popen(["sleep", "600"])
        Path(params["pidfile"]).write_text(f"{os.getpid()} {own_session.pid} {in_group.pid}")
        try:
            while True:
                time.sleep(0.05)
        finally:
            os.killpg(own_session.pid, signal.SIGTERM)
            own_session.wait()


class Stubborn(BaseScriptlet):
    """Ignores SIGTERM, writes its pid to ``pidfile`` and waits forever: only SIGKILL stops it."""

    name = "stubborn"

    def run(self, ctx, params):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        Path(params["pidfile"]).write_text(str(os.getpid()))
        while True:
            time.sleep(0.05)


def _parent_of(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None  # gone meanwhile


class Family(BaseScriptlet):
    """Writes its process id, its parent's and grandparent's, and the processes its parent started."""

    name = "family"
    outputs = None  # writes probe.{slot}_family_v1

    def run(self, ctx, params):
        parent = os.getppid()
        children = sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and _parent_of(p) == parent)
        ctx.set(f"probe.{params['slot']}_family_v1",
                {"pid": os.getpid(), "parent": parent, "grandparent": _parent_of(parent), "children": children})


class Orphan(BaseScriptlet):
    """Forks a child that sleeps (its pid in ``pidfile``), then ends its own process at once."""

    name = "orphan"

    def run(self, ctx, params):
        child = os.fork()
        if child == 0:
            time.sleep(600)
            os._exit(0)
        Path(params["pidfile"]).write_text(str(child))
        os._exit(3)


class Modules(BaseScriptlet):
    """Writes the names of the modules its process has imported."""

    name = "modules"
    outputs = None  # writes probe.{slot}_modules_v1

    def run(self, ctx, params):
        import sys

        ctx.set(f"probe.{params['slot']}_modules_v1", sorted(sys.modules))


class Nap(BaseScriptlet):
    """Writes its pid to ``pid_dir``, then sleeps ``seconds``."""

    name = "nap"
    parallelizable = True

    def run(self, ctx, params):
        Path(params["pid_dir"], f"{os.getpid()}.pid").write_text(str(os.getpid()))
        time.sleep(params.get("seconds", 60))
'''



@pytest.fixture(scope="session")
def testpack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for ``PYTHONPATH`` holding the pack and its distribution metadata."""
    return write_pack(tmp_path_factory.mktemp("pack"), PACK.replace("_", "-"), {
        f"{PACK}/__init__.py": "",
        f"{PACK}/steps/__init__.py": "",
        f"{PACK}/steps/probes.py": STEPS,
        f"{PACK}/plugin.py": context_recording_plugin(PACK),
    }, entry_points={"testpack": f"{PACK}.plugin"})


@pytest.fixture
def testpack_importable(testpack: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pack on this interpreter's ``sys.path`` (worker processes inherit it)."""
    monkeypatch.syspath_prepend(str(testpack))
    return testpack


@pytest.fixture
def orch_run(orch_cli, testpack: Path, tmp_path: Path) -> Callable[..., tuple]:
    """``orch_run(recipe_text, *args)`` → (outcome, final context) of a real ``orch run``."""

    def run(recipe: str, *args: str, timeout: float = 60) -> tuple:
        (tmp_path / "recipe.yaml").write_text(textwrap.dedent(recipe))
        context_file = tmp_path / "context.json"
        context_file.unlink(missing_ok=True)
        outcome = orch_cli("run", "recipe.yaml", "--no-progress", *args, pythonpath=[testpack],
                           env={"ORCH_TESTPACK_CONTEXT": str(context_file)}, timeout=timeout)
        context = json.loads(context_file.read_text()) if context_file.exists() else None
        return outcome, context

    return run


@pytest.fixture
def marked_env(marked_env: tuple[str, dict[str, str]], testpack: Path) -> tuple[str, dict[str, str]]:
    """The core's ``marked_env`` with the test pack importable."""
    marker, env = marked_env
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(testpack), os.environ.get("PYTHONPATH")]))
    return marker, env
