"""What process-executor steps print, at a terminal: whole lines above the live bar, never on it.

The real ``orch`` runs under a pseudo-terminal of 80 columns (``pexpect``), and what it
wrote is replayed into the screen model of ``orch_test_helpers.screen_of`` (carriage
return, line erase, cursor up): the tests judge the screen a user reads at the end.
"""

from __future__ import annotations

import io
import os
import re
import signal
import textwrap

import pexpect
import pytest

from orchestrator_core.testing import orch_executable
from orch_test_helpers import TALK_STEPS, screen_of, screen_when_done

SUMMARY = re.compile(r"^orch: run \S+ (ok|error|interrupted): ")

RECIPE = """
    steps:
      - {name: a, module: talk_steps, function: Talk, executor: process, params: {who: a}}
      - {name: b, module: talk_steps, function: Talk, executor: process, params: {who: b, unfinished: true}}
      - {name: c, module: talk_steps, function: Talk, executor: inline, params: {who: c, program: false}}
"""


def spawn(tmp_path, recipe: str, *args: str) -> tuple[pexpect.spawn, io.StringIO]:
    (tmp_path / "talk_steps.py").write_text(TALK_STEPS)
    (tmp_path / "recipe.yaml").write_text(textwrap.dedent(recipe))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(tmp_path), os.environ.get("PYTHONPATH"))))}
    seen = io.StringIO()
    child = pexpect.spawn(orch_executable(), ["run", "recipe.yaml", "--process-workers", "2", *args],
                          cwd=str(tmp_path), env=env, dimensions=(50, 80), encoding="utf-8", timeout=120)
    child.logfile_read = seen
    return child, seen


def run_at_a_terminal(tmp_path, *args: str) -> list[str]:
    child, seen = spawn(tmp_path, RECIPE, *args)
    return screen_when_done(child, seen)


def talk_of(screen: list[str], who: str) -> list[str]:
    return [line for line in screen if line.startswith((f"{who} ", f"{who}s "))]


def test_what_a_worker_prints_is_shown_whole_above_the_bar_before_its_steps_line(tmp_path):
    screen = run_at_a_terminal(tmp_path)
    for line in screen:
        assert not ("━" in line and re.search(r"says|warns|speaks|leaves", line)), f"a step's line on the bar: {line!r}"
    bars = [line for line in screen if "━" in line]
    assert len(bars) == 1 and "3/3" in bars[0], bars  # no half-erased bar left in the scrollback
    for who in "abc":
        said = talk_of(screen, who)
        expected = [f"{who} says hello from pid N", f"{who} warns on stderr (fd 2 is a terminal: {who == 'c'})"]
        expected += [f"{who}s child speaks"] if who != "c" else []  # a program an inline step starts: not covered
        assert [re.sub(r"pid \d+", "pid N", line) for line in said[:len(expected)]] == expected, screen
        assert max(map(screen.index, said[:len(expected)])) < screen.index(
            next(line for line in screen if re.match(rf"orch: \[\d/3\] ok +{who} ", line)))
    worker_pids = {re.search(r"pid (\d+)", talk_of(screen, who)[0]).group(1) for who in "ab"}
    assert str(os.getpid()) not in worker_pids  # they did run in worker processes
    assert screen.index(talk_of(screen, "a")[-1]) < screen.index(talk_of(screen, "b")[0])
    # The unfinished line comes whole, on its own line, once the worker is gone (or the next line ends it).
    assert talk_of(screen, "b")[-1] == "b leaves a line without its newline"
    assert SUMMARY.match(screen[-1]) and " 3 ok, 0 failed in " in screen[-1]


def test_without_the_bar_workers_keep_writing_to_the_terminal_itself(tmp_path):
    screen = run_at_a_terminal(tmp_path, "--no-progress")
    assert not any("━" in line for line in screen)
    for who in "abc":
        said = talk_of(screen, who)
        assert f"{who} warns on stderr (fd 2 is a terminal: True)" in said, screen
        assert f"{who}s child speaks" in said or who == "c"


def test_ctrl_c_under_the_bar_leaves_no_worker_and_ends_with_the_summary(tmp_path, procs):
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    child, seen = spawn(tmp_path, f"""
        steps:
          - {{name: n1, module: talk_steps, function: Nap, executor: process, params: {{who: n1, pid_dir: "{pid_dir}"}},
              depends_on: []}}
          - {{name: n2, module: talk_steps, function: Nap, executor: process, params: {{who: n2, pid_dir: "{pid_dir}"}},
              depends_on: []}}
    """)
    try:
        assert procs.wait_until(lambda: len(list(pid_dir.glob("*.pid"))) == 2, timeout=30)
        workers = [int(path.stem) for path in pid_dir.glob("*.pid")]
        child.kill(signal.SIGINT)
        child.expect(pexpect.EOF, timeout=30)
    finally:
        child.close(force=True)
    assert child.exitstatus == 130, seen.getvalue()[-2000:]
    assert procs.wait_until(lambda: not any(map(procs.alive, workers)), timeout=5)
    screen = [line for line in screen_of(seen.getvalue()) if line.strip()]
    assert {"n1 is napping", "n2 is napping"} <= set(screen), screen
    assert len([line for line in screen if "━" in line]) == 1, screen
    assert SUMMARY.match(screen[-2]) and " interrupted: 0 ok, 0 failed, 2 not run in " in screen[-2], screen[-3:]
    assert screen[-1] == "orch: error: run interrupted"


@pytest.fixture
def live_bar():
    """A real rich bar live on an in-memory terminal, and the lines waiting to go above it."""
    from rich.console import Console
    from rich.progress import Progress as Bar

    from orchestrator_core.display.above_the_bar import LinesAboveTheBar

    terminal = io.StringIO()
    bar = Bar(console=Console(file=terminal, force_terminal=True, width=80), redirect_stdout=False,
              redirect_stderr=False)
    bar.start()
    above = LinesAboveTheBar(bar, wait=0.001)
    try:
        yield above, terminal
    finally:
        above.close()
        bar.stop()


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def test_a_pool_started_under_a_live_bar_copies_its_workers_output_and_closes_every_pipe(
        live_bar, testpack_importable, tmp_path, procs, monkeypatch):
    import importlib

    from orchestrator_core.builtin.python_step import PythonHandler
    from orchestrator_core.model import StepTask
    from orchestrator_process.pool import WorkerPool

    probes = importlib.import_module("orch_process_testpack.steps.probes")
    above, terminal = live_bar
    task = StepTask("where", "run-1", PythonHandler(probes.WhereAmI), {"slot": "a"}, {}, str(tmp_path),
                    str(tmp_path / "Data"))
    warm = WorkerPool(1)  # multiprocessing's fork server and resource tracker keep a pipe each, for good
    warm.submit(task).result(timeout=30)
    warm.shutdown()
    monkeypatch.setattr("sys.stderr", above.stream(io.StringIO()))  # here: pytest sets its own for each phase
    before = open_fds()
    pool = WorkerPool(2)
    try:
        assert pool.submit(task).result(timeout=30).ok
        above.print_waiting()
        shown = screen_of(terminal.getvalue())
        assert {"noise on stdout from a step", "noise from a program a step started"} <= set(shown), shown
        pidfile = tmp_path / "hang.pids"
        hang = StepTask("hang", "run-1", PythonHandler(probes.Hang), {"pidfile": str(pidfile)}, {}, str(tmp_path),
                        str(tmp_path / "Data"))
        pool.submit(hang)
        assert procs.wait_until(pidfile.exists, timeout=30)
        workers = pool.pids
    finally:
        pool.shutdown(cancel=True)  # as on Ctrl-C: the running step's worker is stopped
    assert procs.wait_until(lambda: not any(map(procs.alive, workers)), timeout=5)
    left = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in open_fds() - before}
    assert left == {}, "the pool left descriptors open"
