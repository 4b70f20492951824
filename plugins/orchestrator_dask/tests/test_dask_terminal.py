"""What steps on the run's own Dask cluster print, at a terminal: whole lines above the live bar, never on it.

The real ``orch`` runs under a pseudo-terminal of 80 columns (``pexpect``), and what it
wrote is replayed into the screen model of ``orch_test_helpers.screen_of``: the tests
judge the screen a user reads at the end.
"""

from __future__ import annotations

import io
import os
import re
import signal
import textwrap

import pexpect

from orchestrator_core.testing import orch_executable
from orch_test_helpers import TALK_STEPS, screen_of, screen_when_done

SUMMARY = re.compile(r"^orch: run \S+ (ok|error|interrupted): ")

RECIPE = """
    steps:
      - {name: a, module: talk_steps, function: Talk, params: {who: a}}
      - {name: b, module: talk_steps, function: Talk, params: {who: b}}
"""


def spawn(tmp_path, env: dict, recipe: str, *args: str) -> tuple[pexpect.spawn, io.StringIO]:
    (tmp_path / "talk_steps.py").write_text(TALK_STEPS)
    (tmp_path / "recipe.yaml").write_text(textwrap.dedent(recipe))
    (tmp_path / "tmp").mkdir()
    env = {**env, "TMPDIR": str(tmp_path / "tmp"),
           "PYTHONPATH": os.pathsep.join(filter(None, (str(tmp_path), env.get("PYTHONPATH"))))}
    seen = io.StringIO()
    child = pexpect.spawn(orch_executable(), ["run", "recipe.yaml", "--executor", "dask", "--workers", "1", *args],
                          cwd=str(tmp_path), env=env, dimensions=(50, 80), encoding="utf-8", timeout=180)
    child.logfile_read = seen
    return child, seen


def run_at_a_terminal(tmp_path, env: dict, *args: str) -> list[str]:
    child, seen = spawn(tmp_path, env, RECIPE, *args)
    return screen_when_done(child, seen)


def talk_of(screen: list[str], who: str) -> list[str]:
    return [re.sub(r"pid \d+", "pid N", line) for line in screen if line.startswith((f"{who} ", f"{who}s "))]


def test_what_a_dask_worker_prints_is_shown_whole_above_the_bar_before_its_steps_line(tmp_path, marked_env, procs):
    marker, env = marked_env
    screen = run_at_a_terminal(tmp_path, env)
    for line in screen:
        assert not ("━" in line and re.search(r"says|warns|speaks", line)), f"a step's line on the bar: {line!r}"
    bars = [line for line in screen if "━" in line]
    assert len(bars) == 1 and "2/2" in bars[0], bars
    for who in "ab":
        assert talk_of(screen, who) == [f"{who} says hello from pid N",
                                        f"{who} warns on stderr (fd 2 is a terminal: False)", f"{who}s child speaks"]
        last = max(screen.index(line) for line in screen if line.startswith((f"{who} ", f"{who}s ")))
        assert last < screen.index(next(line for line in screen if re.match(rf"orch: \[\d/2\] ok +{who} ", line)))
    assert SUMMARY.match(screen[-1]) and " 2 ok, 0 failed in " in screen[-1]
    assert list((tmp_path / "tmp").glob("orch-dask-*")) == []  # the socket's folder is gone
    assert procs.wait_until(lambda: not procs.marked(marker), timeout=10), procs.marked(marker)


def test_without_the_bar_dask_workers_keep_writing_to_the_terminal_itself(tmp_path, marked_env):
    _, env = marked_env
    screen = run_at_a_terminal(tmp_path, env, "--no-progress")
    assert not any("━" in line for line in screen)
    for who in "ab":
        assert f"{who} warns on stderr (fd 2 is a terminal: True)" in talk_of(screen, who), screen
        assert f"{who}s child speaks" in talk_of(screen, who)


def test_ctrl_c_under_the_bar_closes_the_cluster_and_its_socket(tmp_path, marked_env, procs):
    marker, env = marked_env
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    child, seen = spawn(tmp_path, env, f"""
        steps:
          - {{name: n1, module: talk_steps, function: Nap, params: {{who: n1, pid_dir: "{pid_dir}"}}}}
    """)
    try:
        assert procs.wait_until(lambda: any(pid_dir.iterdir()), timeout=60)
        child.kill(signal.SIGINT)
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
    assert child.exitstatus == 130, seen.getvalue()[-2000:]
    screen = [line for line in screen_of(seen.getvalue()) if line.strip()]
    assert "n1 is napping" in screen, screen
    assert len([line for line in screen if "━" in line]) == 1, screen
    assert screen[-1] == "orch: error: run interrupted" and SUMMARY.match(screen[-2]), screen[-3:]
    assert list((tmp_path / "tmp").glob("orch-dask-*")) == []
    assert procs.wait_until(lambda: not procs.marked(marker), timeout=10), procs.marked(marker)
