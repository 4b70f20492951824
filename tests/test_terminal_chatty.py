"""Steps that print a lot, at a terminal with the live bar: every line shown, in order, before the summary.

The real ``orch`` runs under a pseudo-terminal of 80 columns (``pexpect``), and what it
wrote is replayed into the screen model of ``orch_test_helpers.screen_of``: the tests
judge the screen a user reads at the end, not the byte stream.
"""

from __future__ import annotations

import io
import json
import os
import re
import textwrap

import pexpect

from orchestrator_core.testing import orch_executable
from orch_test_helpers import screen_of

SUMMARY = re.compile(r"^orch: run \S+ (ok|error): (\d+) ok, (\d+) failed(, \d+ not run)? in [0-9.]+ (ms|s)$")
HELD_OPEN = "still holds its output open"
CHAT_LINES = 1500
SHELL_LINES = 3000
FATAL = "FATAL: could not connect to warehouse db (password rejected)"

CHATTY_STEPS = f'''
import sys
from orchestrator_core import BaseScriptlet

class Quiet(BaseScriptlet):
    name = "quiet"
    def run(self, ctx, params):
        ctx.set("quiet.done_v1", True)

class Chat(BaseScriptlet):
    name = "chat"
    def run(self, ctx, params):
        for i in range({CHAT_LINES}):
            print(f"chatty line {{i}}")
            print(f"err line {{i}}", file=sys.stderr)
        ctx.set("chat.done_v1", True)
'''

NOISY = f"""
    #!/bin/sh
    i=0
    while [ $i -lt {SHELL_LINES} ]; do echo "noisy log line $i" >&2; i=$((i+1)); done
    [ "$3" = fail ] && {{ echo "{FATAL}" >&2; exit 3; }}
    echo '{{"status":"ok","outputs":["noisy.done_v1"],"ctx":{{"noisy.done_v1":true}}}}'
"""


def run_at_a_terminal(tmp_path, recipe: str) -> tuple[int, list[str]]:
    """Run ``recipe`` (its text) with the real ``orch`` under an 80-column pty: exit status, screen lines."""
    (tmp_path / "chatty_steps.py").write_text(CHATTY_STEPS)
    script = tmp_path / "noisy.sh"
    script.write_text(textwrap.dedent(NOISY).lstrip())
    script.chmod(0o755)
    (tmp_path / "recipe.yaml").write_text(textwrap.dedent(recipe))
    seen = io.StringIO()
    child = pexpect.spawn(orch_executable(), ["run", "recipe.yaml"], cwd=str(tmp_path),
                          env={**os.environ, "PYTHONPATH": str(tmp_path)}, dimensions=(50, 80),
                          encoding="utf-8", timeout=180)
    child.logfile_read = seen
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus is not None
    return child.exitstatus, [line for line in screen_of(seen.getvalue()) if line.strip()]


def assert_ends_cleanly(screen: list[str], bar_count: str) -> None:
    """The summary is the last line; the one bar left on screen is the final one, just above the messages."""
    assert SUMMARY.match(screen[-1]), screen[-5:]
    bars = [index for index, line in enumerate(screen) if "━" in line]
    assert len(bars) == 1, [screen[index] for index in bars]
    assert bar_count in screen[bars[0]]
    assert all(line.startswith("orch: ") for line in screen[bars[0] + 1:]), screen[bars[0]:]


def test_every_line_of_chatty_steps_is_on_screen_in_order_with_orchs_lines_between_the_steps(tmp_path):
    status, screen = run_at_a_terminal(tmp_path, """
        steps:
          - {name: s1, type: python, module: chatty_steps, function: Quiet}
          - {name: chat, type: python, module: chatty_steps, function: Chat, depends_on: [s1]}
          - {name: noisy, type: shell, script: noisy.sh, depends_on: [chat]}
    """)
    assert status == 0, screen[-5:]
    chat = [line for i in range(CHAT_LINES) for line in (f"chatty line {i}", f"err line {i}")]
    noisy = [f"[noisy] noisy log line {i}" for i in range(SHELL_LINES)]
    printed = [line for line in screen if line.startswith(("chatty line ", "err line ", "[noisy] "))]
    assert printed == chat + noisy, "every line the steps wrote, once, in the order written"

    def where(line: str) -> int:
        return screen.index(line)

    step_lines = [line for line in screen if re.match(r"orch: \[\d/3\] ok ", line)]
    assert [line.split()[3] for line in step_lines] == ["s1", "chat", "noisy"]
    json_line = {json.loads(line)["step"]: index for index, line in enumerate(screen) if line.startswith("{")}
    assert sorted(json_line, key=json_line.get) == ["s1", "chat", "noisy"]
    # A step's own lines and orch's lines about it come before the next step's first line.
    assert where(step_lines[0]) < json_line["s1"] < where(chat[0])
    assert where(chat[-1]) < where(step_lines[1]) < json_line["chat"] < where(noisy[0])
    assert where(noisy[-1]) < where(step_lines[2]) < json_line["noisy"]
    assert not any(HELD_OPEN in line for line in screen)
    assert_ends_cleanly(screen, "3/3")
    assert " 3 ok, 0 failed in " in screen[-1]


def test_a_failing_chatty_script_shows_every_line_and_records_its_last_ones(tmp_path):
    status, screen = run_at_a_terminal(tmp_path, """
        steps:
          - {name: extract, type: shell, script: noisy.sh, args: [fail]}
    """)
    assert status == 1, screen[-5:]
    expected = [f"[extract] noisy log line {i}" for i in range(SHELL_LINES)] + [f"[extract] {FATAL}"]
    assert [line for line in screen if line.startswith("[extract] ")] == expected
    (error,) = [json.loads(line) for line in screen if line.startswith("{")]
    assert error["details"]["stderr_tail"] == [f"noisy log line {i}" for i in range(SHELL_LINES - 19, SHELL_LINES)
                                               ] + [FATAL]
    assert screen.index(expected[-1]) < screen.index("orch: [1/1] ERROR  extract: script exited with code 3")
    assert not any(HELD_OPEN in line for line in screen)
    assert_ends_cleanly(screen, "1/1")
    assert screen[-3:-1] == ["orch: step extract failed: script exited with code 3",
                             "orch:   hint: fix it, then run again from this step: orch run recipe.yaml "
                             "--resume-from extract"]


def test_lines_above_the_bar_keep_their_order_across_threads_and_nothing_is_left_at_the_end():
    """Against a real rich bar on an in-memory terminal: 4 threads write whole lines and pieces of
    lines to two streams; the screen shows each thread's lines in its order, once, and a line left
    unfinished when the bar closes, last; later writes go straight to the stream."""
    import threading

    from rich.console import Console
    from rich.progress import Progress as Bar

    from orchestrator_core.display.above_the_bar import LinesAboveTheBar

    terminal = io.StringIO()
    bar = Bar(console=Console(file=terminal, force_terminal=True, width=80), redirect_stdout=False,
              redirect_stderr=False)
    bar.add_task("", total=1)
    bar.start()
    try:
        above = LinesAboveTheBar(bar, wait=0.001)
        behind_out, behind_err = io.StringIO(), io.StringIO()
        out, err = above.stream(behind_out), above.stream(behind_err)

        def chat(number: int) -> None:
            stream = out if number % 2 else err
            for i in range(500):
                stream.write(f"thread {number} line {i}\n")

        threads = [threading.Thread(target=chat, args=(number,)) for number in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        out.write("unfinished ")
        out.write("line")
        above.add("orch: last line")
        above.close()
        out.write("after the bar\n")
    finally:
        bar.stop()
    screen = [line for line in screen_of(terminal.getvalue()) if line.strip() and "━" not in line]
    for number in range(4):
        mine = [line for line in screen if line.startswith(f"thread {number} ")]
        assert mine == [f"thread {number} line {i}" for i in range(500)]
    assert screen[-2:] == ["orch: last line", "unfinished line"]  # the unfinished line, whole, at the end
    assert (behind_out.getvalue(), behind_err.getvalue()) == ("after the bar\n", "")


def test_a_writer_that_finds_the_queue_full_prints_it_itself():
    """Lines do not pile up without bound while the timer is late (or the terminal paused):
    the writer that fills the queue prints it, and so waits for the terminal as without the bar."""
    from rich.console import Console
    from rich.progress import Progress as Bar

    from orchestrator_core.display.above_the_bar import MOST_WAITING, LinesAboveTheBar

    terminal = io.StringIO()
    bar = Bar(console=Console(file=terminal, force_terminal=True, width=80), redirect_stdout=False,
              redirect_stderr=False)
    bar.start()
    try:
        above = LinesAboveTheBar(bar, wait=600)  # the timer never comes within the test
        stream = above.stream(io.StringIO())
        for i in range(MOST_WAITING - 1):
            stream.write(f"line {i}\n")
        assert "line 0\n" not in terminal.getvalue()
        stream.write(f"line {MOST_WAITING - 1}\n")
        shown = [line for line in screen_of(terminal.getvalue()) if line.startswith("line ")]
        assert shown == [f"line {i}" for i in range(MOST_WAITING)]
        above.close()
    finally:
        bar.stop()
