"""Stopping scripts: a timeout, Ctrl-C or SIGTERM to ``orch`` stop the script and what it started."""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import time
from datetime import datetime

import pytest

from orchestrator_core.testing import orch_executable

# Starts a child that would run for ten minutes, writes both pids, then waits for it.
# With "stubborn" as its argument it ignores SIGTERM (and so does its child).
HANG = r"""
    #!/bin/sh
    [ "$3" = stubborn ] && trap '' TERM
    echo "about to hang" >&2
    sleep 600 &
    echo "$$ $!" > pids.txt
    wait
"""


@pytest.mark.parametrize("mode, signal_name", [("polite", "SIGTERM"), ("stubborn", "SIGKILL")])
def test_a_timeout_stops_the_script_and_its_child(run_shell, script, procs, marked_env, tmp_path, mode,
                                                  signal_name):
    marker, env = marked_env
    script("hang.sh", HANG)
    outcome = run_shell(f"""
        steps:
          - {{name: hang, type: shell, script: hang.sh, args: [{mode}], timeout: 0.5}}
          - {{name: after, type: shell, script: hang.sh, depends_on: [hang]}}
    """, "--events", "events.jsonl", env={"ORCH_TEST_MARK": marker}, timeout=30)
    assert outcome.exit_code == 1, outcome.err
    (line,) = outcome.lines
    assert (line["step"], line["error_type"], line["reason"], line["exit_code"]) == (
        "hang", "timeout", "step timed out after 0.5 s", 124)
    assert line["details"]["signal"] == signal_name
    assert line["details"]["stderr_tail"] == ["about to hang"]
    # From its start to its end (orch's own start, slow on a loaded machine, not counted): the
    # timeout and the 1 s grace period, not the engine's backstop (5 s after the timeout).
    stamps = {event["event"]: datetime.fromisoformat(event["ts"]) for event in map(
        json.loads, (tmp_path / "events.jsonl").read_text().splitlines()) if event.get("step") == "hang"}
    assert (stamps["step_error"] - stamps["step_start"]).total_seconds() < 4.5
    leader, child = procs.pids(tmp_path / "pids.txt", 2)
    assert not procs.alive(leader) and not procs.alive(child)
    assert not procs.marked(marker)


# Two ways a script runs inside orch: on the runner's own thread (no timeout), and on a
# helper thread (a timeout); Ctrl-C must stop it in both. SIGTERM to orch behaves alike.
@pytest.mark.parametrize("timeout, signum", [("", signal.SIGINT), (", timeout: 60", signal.SIGINT),
                                             ("", signal.SIGTERM)])
def test_interrupting_orch_leaves_no_script_behind(script, procs, marked_env, tmp_path, timeout, signum):
    marker, env = marked_env
    script("hang.sh", HANG)
    (tmp_path / "recipe.yaml").write_text(textwrap.dedent(f"""
        steps:
          - {{name: hang, type: shell, script: hang.sh{timeout}}}
          - {{name: after, type: shell, script: hang.sh}}
    """))
    proc = subprocess.Popen([orch_executable(), "run", "recipe.yaml", "--no-progress"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        leader, child = procs.pids(tmp_path / "pids.txt", 2, timeout=20)
        assert procs.alive(leader) and procs.alive(child)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert out == ""  # the interrupted step has no line; the next one never started
    assert "Traceback" not in err
    # orch stops the script's whole group and waits until it is gone before it exits:
    # nothing is left to wait for here, however loaded the machine.
    assert not procs.alive(leader) and not procs.alive(child)
    assert not procs.marked(marker)


def test_processes_a_script_leaves_behind_are_stopped_when_it_ends(run_shell, script, procs, marked_env, tmp_path):
    marker, env = marked_env
    script("leave.sh", r"""
        #!/bin/sh
        sleep 600 &
        echo "$!" > pids.txt
        echo '{"status":"ok","outputs":["demo.left_v1"],"ctx":{"demo.left_v1":true}}'
    """)
    started = time.monotonic()
    outcome = run_shell("""
        steps:
          - {name: leave, type: shell, script: leave.sh}
    """, env={"ORCH_TEST_MARK": marker}, timeout=30)
    outcome.assert_success()  # the background child held stdout open: orch did not wait for it
    assert time.monotonic() - started < 20  # nor for its 600 s
    assert outcome.lines[0]["outputs"] == ["demo.left_v1"]
    assert "the script left 1 process(es) running in its process group; stopping them" in outcome.err
    (child,) = procs.pids(tmp_path / "pids.txt")
    assert not procs.alive(child)
    assert not procs.marked(marker)
