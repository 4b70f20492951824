"""Signals to a running ``orch``: every process of every executor stops, the run ends ``interrupted``.

A mixed recipe runs a shell script, a thread step and a process step at once; each
starts a ``sleep`` of its own. The real ``orch`` runs in a session of its own, so a
signal can go to its PID alone or to its whole process group. Every process carries
a marker in its environment: ``/proc`` then shows whether anything survived.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pexpect
import pytest

from orch_test_helpers import wait_for
from orchestrator_core.testing import orch_executable

STEPS = '''
import os
import signal
import subprocess

from orchestrator_core import BaseScriptlet


def _deaf():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Hang(BaseScriptlet):
    """Starts a sleep, writes both pids to TAG.pids, waits; ``stubborn`` ignores being stopped, and
    writes TAG.stopping when it was asked (the run has taken the signal that stops it)."""

    parallelizable = True

    def run(self, ctx, params):
        stubborn = params.get("stubborn", False)
        child = subprocess.Popen(["sleep", "600"], preexec_fn=_deaf if stubborn else None)
        with open(params["tag"] + ".pids", "w") as out:
            out.write(f"{os.getpid()} {child.pid}\\n")
        while True:
            try:
                child.wait()
                return
            except KeyboardInterrupt:
                if not stubborn:
                    raise
                open(params["tag"] + ".stopping", "w").close()
'''

SCRIPT = """\
#!/bin/sh
[ "$3" = stubborn ] && trap '' TERM INT
sleep 600 &
echo "$$ $!" > shell.pids
wait
wait
"""


# ``orch`` whose grace periods (what the executors, and the end of an interrupted run, give a process
# they stopped before they SIGKILL it) are a minute long: a shutdown that waited for them instead of
# killing at the second signal would take that long, far more than any loaded machine's delays.
LONG_GRACE_ORCH = """
import sys

from orchestrator_core.run import interrupts
from orchestrator_process.pool import WorkerPool
from orchestrator_shell import process_group

interrupts.STOP_GRACE_S = process_group.KILL_GRACE = 60.0
process_group.ScriptProcess.stop.__defaults__ = (60.0,)
WorkerPool.__init__.__kwdefaults__["grace"] = 60.0
sys.argv = ["orch", *sys.argv[1:]]
from orchestrator_core.cli import main
main()
"""


def mixed_recipe(stubborn: bool) -> str:
    flag = "true" if stubborn else "false"
    return textwrap.dedent(f"""
        steps:
          - {{name: sh, type: shell, script: hang.sh, args: [{'stubborn' if stubborn else 'polite'}],
             parallelizable: true, depends_on: []}}
          - {{name: th, module: signal_steps, function: Hang, executor: thread, depends_on: [],
             params: {{tag: thread, stubborn: {flag}}}}}
          - {{name: pr, module: signal_steps, function: Hang, executor: process, depends_on: [],
             params: {{tag: process, stubborn: {flag}}}}}
    """)


@pytest.fixture
def start_mixed(tmp_path: Path, marked_env, procs):
    """``start_mixed(stubborn)``: start ``orch run`` on the mixed recipe; returns it once all three steps run."""
    marker, env = marked_env
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    (tmp_path / "signal_steps.py").write_text(STEPS)
    (tmp_path / "hang.sh").write_text(SCRIPT)
    (tmp_path / "hang.sh").chmod(0o755)
    started: list[subprocess.Popen] = []

    def start(stubborn: bool = False, long_grace: bool = False) -> tuple[subprocess.Popen, list[int]]:
        (tmp_path / "recipe.yaml").write_text(mixed_recipe(stubborn))
        orch = [sys.executable, "-c", LONG_GRACE_ORCH] if long_grace else [orch_executable()]
        proc = subprocess.Popen([*orch, "run", "recipe.yaml", "--no-progress", "--workers", "3"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        started.append(proc)
        pids = [pid for tag in ("shell", "thread", "process")
                for pid in procs.pids(tmp_path / f"{tag}.pids", 2, timeout=60)]
        assert all(procs.alive(pid) for pid in pids)
        return proc, pids

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
    procs.kill_marked(marker)  # survivors would hold the pipes open
    for proc in started:
        proc.communicate(timeout=30)


def finish(proc: subprocess.Popen) -> tuple[str, str]:
    return proc.communicate(timeout=30)


def run_status(orch_cli) -> str:
    listed = orch_cli("runs", "list").assert_success().out.splitlines()
    assert len(listed) == 2, listed
    return listed[1].split()[2]


@pytest.mark.parametrize("signum, to_group", [
    pytest.param(signal.SIGINT, False, id="SIGINT-pid"), pytest.param(signal.SIGTERM, False, id="SIGTERM-pid"),
    pytest.param(signal.SIGHUP, False, id="SIGHUP-pid"), pytest.param(signal.SIGTERM, True, id="SIGTERM-group"),
])
def test_one_signal_stops_every_process_of_every_executor(start_mixed, procs, marked_env, orch_cli,
                                                          signum, to_group):
    marker, _ = marked_env
    proc, pids = start_mixed()
    if to_group:
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
    out, err = finish(proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and out == ""
    assert procs.wait_until(lambda: not any(procs.alive(pid) for pid in pids), timeout=5), \
        [pid for pid in pids if procs.alive(pid)]
    assert procs.wait_until(lambda: not procs.marked(marker), timeout=5), procs.marked(marker)
    assert run_status(orch_cli) == "interrupted"


@pytest.mark.parametrize("signum, to_group", [pytest.param(signal.SIGTERM, False, id="SIGTERM-pid"),
                                              pytest.param(signal.SIGINT, True, id="SIGINT-group")])
def test_a_second_signal_kills_what_would_not_stop(start_mixed, procs, marked_env, orch_cli, tmp_path, signum,
                                                  to_group):
    """Every step here ignores being stopped: the shell's and the pool's grace periods (a minute here)
    would run out."""
    marker, _ = marked_env
    proc, _ = start_mixed(stubborn=True, long_grace=True)
    send = (lambda: os.killpg(proc.pid, signum)) if to_group else (lambda: os.kill(proc.pid, signum))
    send()
    # Two signals close together may reach orch as one: the second once orch is stopping the steps.
    wait_for((tmp_path / "process.stopping").exists, what="orch to stop the process step")
    sent_again = time.monotonic()
    send()
    out, err = finish(proc)
    assert proc.returncode == 130, err
    assert time.monotonic() - sent_again < 15  # not the minute of grace periods
    assert "Traceback" not in err and out == ""
    assert f"orch: {signal.Signals(signum).name} again: killed" in err
    assert procs.wait_until(lambda: not procs.marked(marker), timeout=5), procs.marked(marker)
    assert run_status(orch_cli) == "interrupted"


@pytest.mark.parametrize("stubborn", [False, True], ids=["polite", "stubborn"])
def test_kill_9_of_orch_takes_the_process_steps_children_with_it(start_mixed, procs, tmp_path, stubborn):
    proc, _ = start_mixed(stubborn=stubborn)
    worker, child = procs.pids(tmp_path / "process.pids", 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    # The worker sees its parent go, lets the step clean up, then kills its group.
    assert procs.wait_until(lambda: not procs.alive(worker) and not procs.alive(child), timeout=10)


def test_two_ctrl_c_at_a_terminal(tmp_path, marked_env, procs, orch_cli):
    """What a user at a terminal sees: Ctrl-C, Ctrl-C again while steps refuse to stop; no traceback."""
    marker, env = marked_env
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    (tmp_path / "signal_steps.py").write_text(STEPS)
    (tmp_path / "hang.sh").write_text(SCRIPT)
    (tmp_path / "hang.sh").chmod(0o755)
    (tmp_path / "recipe.yaml").write_text(mixed_recipe(stubborn=True))
    child = pexpect.spawn(orch_executable(), ["run", "recipe.yaml", "--workers", "3"], cwd=str(tmp_path), env=env,
                          encoding="utf-8", timeout=60, dimensions=(40, 120))
    try:
        for tag in ("shell", "thread", "process"):
            procs.pids(tmp_path / f"{tag}.pids", 2, timeout=60)
        child.sendintr()
        wait_for((tmp_path / "process.stopping").exists, what="orch to stop the process step")  # not one signal
        child.sendintr()
        child.expect(pexpect.EOF, timeout=30)
        child.close()
    finally:
        if child.isalive():
            child.terminate(force=True)
    screen = child.before
    assert child.exitstatus == 130, screen
    assert "Traceback" not in screen
    assert "orch: SIGINT again: killed" in screen
    assert "interrupted" in screen
    assert procs.wait_until(lambda: not procs.marked(marker), timeout=5), procs.marked(marker)
    assert run_status(orch_cli) == "interrupted"


@pytest.fixture
def orch_signal_handlers():
    """``Interrupts`` installed in this process; the handlers it replaced given back afterwards
    (after a signal it keeps its own, as ``orch run`` does until it exits)."""
    from orchestrator_core.run import interrupts

    saved = {signum: signal.getsignal(signum) for signum in interrupts.SIGNALS}
    yield interrupts.Interrupts().install()
    for signum, handler in saved.items():
        signal.signal(signum, handler)
    interrupts._active = None  # as Interrupts.finish leaves it: a later run in this process is not "interrupted"


def test_a_signal_during_a_deferred_block_interrupts_when_the_block_ends(orch_signal_handlers):
    from orchestrator_core.run.interrupts import deferred

    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred():
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes: it has run by now
                pass
            done.append("the block ran to its end")
    assert done == ["the block ran to its end"] and orch_signal_handlers.received == signal.SIGINT
    with deferred():  # held back once: nothing pending afterwards
        pass


def test_a_second_signal_during_a_deferred_block_interrupts_at_once(orch_signal_handlers, monkeypatch):
    from orchestrator_core.run import interrupts

    monkeypatch.setattr(interrupts, "signal_descendants", lambda signum: 0)  # nothing of ours to kill here
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            reached.append("held back")
            os.kill(os.getpid(), signal.SIGTERM)
            reached.append("not reached")
    assert reached == ["held back"]


IGNORING_STEPS = """
import signal
import time

from orchestrator_core import BaseScriptlet


class Ignore(BaseScriptlet):
    name = "signals_ignore"

    def run(self, ctx, params):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Nap(BaseScriptlet):
    name = "signals_nap"

    def run(self, ctx, params):
        with open(params["started"], "w"):
            pass
        time.sleep(params["seconds"])
"""


def test_a_step_that_ignores_signals_does_not_disarm_ctrl_c_for_the_rest_of_the_run(tmp_path):
    """A scriptlet run in orch's own process (the inline executor, on the main thread) may replace
    the signal handlers; the runner puts its own back after the step, with a warning."""
    (tmp_path / "ignoring_steps.py").write_text(IGNORING_STEPS)
    started = tmp_path / "napping"
    (tmp_path / "r.yaml").write_text(
        "steps:\n"
        "  - {name: ignore, type: python, module: ignoring_steps, function: Ignore}\n"
        f"  - {{name: nap, type: python, module: ignoring_steps, function: Nap, params: {{started: '{started}',"
        " seconds: 60}, depends_on: [ignore]}\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.Popen([orch_executable(), "run", "r.yaml", "--executor", "inline", "--no-progress"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started.exists()
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert time.monotonic() - sent < 10  # stopped at once, not after the 60 s step
    assert "step 'ignore' replaced orch's SIGINT handler" in err
    assert [json.loads(line)["step"] for line in out.splitlines()] == ["ignore"]


SWALLOWING_STEPS = """
import time

from orchestrator_core import BaseScriptlet


class Swallow(BaseScriptlet):
    '''Naps in small steps, catching every Ctrl-C (a bare except), until it has dropped ``drops`` of
    them (or a minute passed). Its marks are made inside the guarded region, so a signal sent once
    one exists is always dropped: ``started`` once it naps, ``started.N`` once it dropped N and naps
    again. It ends when it has dropped the last, however slow the machine: never before a signal.'''

    name = "signals_swallow"

    def run(self, ctx, params):
        end = time.monotonic() + 60
        dropped, marked = 0, -1
        while True:
            try:  # the loop's test too: a signal between two naps is dropped like one during a nap
                if dropped >= params["drops"] or time.monotonic() >= end:
                    break
                if marked < dropped:
                    open(params["started"] + (f".{dropped}" if dropped else ""), "w").close()
                    marked = dropped
                time.sleep(0.02)
            except:  # noqa: E722 - the point: a step that drops the interrupt
                dropped += 1
        ctx.set("swallowed", True)


class After(BaseScriptlet):
    name = "signals_after"

    def run(self, ctx, params):
        ctx.set("after", True)
"""


def _swallowing_run(tmp_path: Path, drops: int, *options: str) -> tuple[subprocess.Popen, Path]:
    (tmp_path / "swallowing_steps.py").write_text(SWALLOWING_STEPS)
    started = tmp_path / "swallowing"
    (tmp_path / "r.yaml").write_text(
        "steps:\n"
        f"  - {{name: swallow, type: python, module: swallowing_steps, function: Swallow, params: {{started: "
        f"'{started}', drops: {drops}}}}}\n"
        "  - {name: after, type: python, module: swallowing_steps, function: After, depends_on: [swallow]}\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.Popen([orch_executable(), "run", "r.yaml", *(options or ("--no-progress",))], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert started.exists()
    return proc, started


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_step_that_drops_the_interrupt_does_not_make_the_run_go_on_and_end_ok(tmp_path, orch_cli, signum):
    """The step catches the KeyboardInterrupt and finishes: it is recorded as it finished, no step
    starts after it, and the run ends interrupted, exit status 130 (it used to end ok, status 0)."""
    proc, _ = _swallowing_run(tmp_path, drops=1)
    try:
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert [json.loads(line)["step"] for line in out.splitlines()] == ["swallow"]
    assert f"a step caught the interrupt ({signal.Signals(signum).name}) and went on; the run stops now" in err
    assert "Traceback" not in err
    listed = orch_cli("runs", "list").assert_success().out.splitlines()
    assert listed[1].split()[2] == "interrupted"
    shown = json.loads(orch_cli("runs", "show", listed[1].split()[0], "--json").assert_success().out)
    assert {s["step"]: s["status"] for s in shown["steps"]} == {"swallow": "ok"}


def test_three_signals_end_orch_at_once_whatever_the_step_does(tmp_path, orch_cli):
    """A step that drops every interrupt holds the run up for a minute: the second signal raises again
    (dropped too), the third ends orch by the signal; the run is then recorded as killed."""
    proc, started = _swallowing_run(tmp_path, drops=3)
    try:
        for dropped in range(3):
            if dropped:  # two signals close together may reach orch as one: the next once the step dropped this one
                wait_for(lambda: Path(f"{started}.{dropped}").exists() or proc.poll() is not None,
                         what=f"the step to drop interrupt {dropped}")
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGINT, err  # a shell says 130
    assert time.monotonic() - sent < 10
    assert "orch: SIGINT again: killed 0 process(es)" in err
    assert "orch: SIGINT a third time: ending now; the run is recorded as killed" in err
    assert out == ""
    listed = orch_cli("runs", "list").assert_success().out.splitlines()
    assert listed[1].split()[2] == "killed"


def test_an_interrupted_run_says_how_to_go_on_from_where_it_stopped(tmp_path):
    proc, _ = _swallowing_run(tmp_path, 1, "--progress")
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    lines = err.splitlines()
    hint = lines.index("orch:   hint: go on from there: orch run r.yaml --resume-from after")
    assert lines[hint + 1].startswith("orch: run ") and " interrupted: 1 ok, 0 failed, 1 not run in " in lines[hint + 1]
