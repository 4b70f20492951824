"""A script's output is read to its end: the error record's tail is its last lines, every line is shown.

The stderr of a script is copied line by line to orch's stderr; when that is slow (a
reader that takes its time, a terminal), the copy falls behind the script. Once the
script and its group are gone its pipe is closed, and orch waits for the copy to
finish before it takes the last lines for the error record: only a pipe that a
process outside the group still holds open is given up on, with a warning.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time

from orchestrator_core.testing import orch_executable

FATAL = "FATAL: could not connect to warehouse db (password rejected)"
HELD_OPEN = "outside its process group still holds its output open"

# 4,000 lines of ~28 bytes: more than a pipe holds (64 KiB), so the copy to a stderr nobody
# reads yet stops half-way and catches up only once the reader comes.
NOISY_FAIL = rf"""
    #!/bin/sh
    i=0
    while [ $i -lt 4000 ]; do echo "noisy log line $i" >&2; i=$((i+1)); done
    echo "{FATAL}" >&2
    exit 3
"""


def test_a_slowly_read_stderr_still_ends_the_error_record_with_the_scripts_last_lines(script, orch_cli, tmp_path):
    script("noisyfail.sh", NOISY_FAIL)
    (tmp_path / "recipe.yaml").write_text("steps:\n  - {name: extract, type: shell, script: noisyfail.sh}\n")
    proc = subprocess.Popen([orch_executable(), "run", "recipe.yaml", "--no-progress"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3.5)  # longer than orch waits for a pipe held open (2 s): nobody reads stderr meanwhile
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, err
    expected_tail = [f"noisy log line {i}" for i in range(3981, 4000)] + [FATAL]
    (line,) = [json.loads(text) for text in out.splitlines()]
    assert line["details"]["stderr_tail"] == expected_tail
    (run,) = json.loads(orch_cli("runs", "list", "--json").assert_success().out)
    recorded = json.loads(orch_cli("runs", "show", run["id"], "--json").assert_success().out)
    assert json.dumps(expected_tail) in json.dumps(recorded), "the state store keeps the same tail"
    assert HELD_OPEN not in err, "the script started nothing: no process holds its output"
    shown = [text for text in err.splitlines() if text.startswith("[extract] ")]
    assert shown == [f"[extract] noisy log line {i}" for i in range(4000)] + [f"[extract] {FATAL}"]


def test_a_process_outside_the_group_that_holds_stderr_open_is_not_waited_for(script, procs, marked_env, tmp_path):
    marker, env = marked_env
    script("detach.sh", r"""
        #!/bin/sh
        # The sleeper writes its pid once it has left the group; the script waits for that, so it
        # never ends while the sleeper is still in its group (orch would stop it there).
        setsid sh -c 'echo $$ > pids.txt; exec sleep 60' &
        while [ ! -s pids.txt ]; do sleep 0.01; done
        echo "detached a sleeper" >&2
        echo '{"status":"ok","outputs":["demo.detached_v1"],"ctx":{"demo.detached_v1":true}}'
    """)
    (tmp_path / "recipe.yaml").write_text(textwrap.dedent("""
        steps:
          - {name: detach, type: shell, script: detach.sh}
    """))
    started = time.monotonic()
    done = subprocess.run([orch_executable(), "run", "recipe.yaml", "--no-progress"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30, "orch waited for the sleeper (60 s)"
    assert f"step 'detach': a process the script started {HELD_OPEN}; not waiting for it" in done.stderr
    assert "[detach] detached a sleeper" in done.stderr
    (sleeper,) = procs.pids(tmp_path / "pids.txt")
    assert procs.alive(sleeper)  # it left the group: not orch's to stop at the script's end
    assert procs.marked(marker)
