"""What a person sees in a terminal: a clean live display, a summary, and runs that survive their reader.

The pseudo-terminal tests run the real ``orch`` under ``pexpect`` and replay what it
wrote into a small screen model (carriage return, line erase, cursor up), so they
judge the screen a user would look at, not the byte stream.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess

import pexpect
import pytest

from orchestrator_core.display.durations import format_duration
from orchestrator_core.testing import orch_executable
from orch_test_helpers import screen_of, write_wide_fan

SUMMARY = re.compile(r"^orch: run \S+ (ok|error): (\d+) ok, (\d+) failed(, \d+ not run)? in [0-9.]+ (ms|s)$")

FAILING_STEPS = '''
from orchestrator_core import BaseScriptlet, ScriptletError

class Fine(BaseScriptlet):
    name = "fine"
    outputs = ("fine.flag_v1",)
    def run(self, ctx, params):
        ctx.set("fine.flag_v1", True)

class Broken(BaseScriptlet):
    name = "broken"
    outputs = ("broken.flag_v1",)
    def run(self, ctx, params):
        raise ScriptletError("the input table has no 'price' column",
                             details={"columns": ["a", "b"], "hint": "add a price column to input.csv"})
'''

FAILING_RECIPE = """
name: failing_demo
steps:
  - {name: first, module: term_steps, function: Fine}
  - {name: second, module: term_steps, function: Broken}
  - {name: third, module: term_steps, function: Fine}
"""


def test_the_screen_model_follows_rich_redraws():
    assert screen_of("bar 1\r\x1b[2Kbar 2\r\x1b[2Kline\r\nbar 3") == ["line", "bar 3"]
    assert screen_of("a\nb\x1b[1A\r\x1b[2Kc") == ["c", "b"]


def spawn_orch(args: list[str], cwd, env=None) -> str:
    child = pexpect.spawn(orch_executable(), args, cwd=str(cwd), env={**os.environ, **(env or {})},
                          dimensions=(50, 140), encoding="utf-8", timeout=120)
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus is not None
    return child.before


def test_a_run_on_a_terminal_keeps_json_lines_and_the_bar_apart(tmp_path):
    raw = spawn_orch(["run", "12_advanced_full"], tmp_path)
    assert "━" in raw, "no live bar was drawn on the terminal"
    screen = [line for line in screen_of(raw) if line.strip()]
    for line in screen:
        assert not ("━" in line and "{" in line), f"a JSON line was written into the bar: {line!r}"
    json_lines = [json.loads(line) for line in screen if line.startswith("{")]
    assert [line["status"] for line in json_lines] == ["ok"] * 12
    bars = [line for line in screen if "━" in line]
    assert bars and "12/12" in bars[-1], f"the bar did not reach its final count: {bars}"
    assert SUMMARY.match(screen[-1]), f"the screen does not end with the summary: {screen[-3:]}"
    assert " 12 ok, 0 failed in " in screen[-1]


def test_many_quick_steps_on_a_terminal_print_every_line_in_order_and_soon(tmp_path):
    """The lines above the bar go out a few at a time (each print redraws the bar), in order, and
    without waiting for the next step: the fan's lines are on screen while a long step runs (one
    that ends only once the test has seen them)."""
    width = 600
    write_wide_fan(tmp_path, width, gate=tmp_path / "opened")
    seen = io.StringIO()
    child = pexpect.spawn(orch_executable(), ["run", "wide.yaml", "--executor", "thread", "--workers", "4"],
                          cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": str(tmp_path)},
                          dimensions=(50, 140), encoding="utf-8", timeout=60)
    child.logfile_read = seen
    try:
        child.expect(rf"\[{width + 1}/{width + 2}\] ok ")  # the fan's last line, while the gate step waits
        (tmp_path / "opened").touch()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    screen = [line for line in screen_of(seen.getvalue()) if line.strip()]
    counts = [int(m.group(1)) for line in screen if (m := re.match(r"orch: \[ *(\d+)/\d+\] ok ", line))]
    assert counts == list(range(1, width + 3)), "every step's line, once, in order"
    assert SUMMARY.match(screen[-1]) and f" {width + 2} ok, 0 failed in " in screen[-1]


def test_a_failed_step_ends_the_output_with_its_reason_and_hint(orch_cli, tmp_path):
    (tmp_path / "term_steps.py").write_text(FAILING_STEPS)
    (tmp_path / "recipe.yaml").write_text(FAILING_RECIPE)
    outcome = orch_cli("run", "recipe.yaml", env={"PYTHONPATH": str(tmp_path)})
    assert outcome.exit_code == 1
    assert [line["status"] for line in outcome.lines] == ["ok", "error"]
    err = outcome.err.strip().splitlines()
    assert err[-3] == "orch: step second failed: the input table has no 'price' column"
    assert err[-2] == "orch:   hint: add a price column to input.csv"
    assert SUMMARY.match(err[-1]) and "1 ok, 1 failed, 1 not run" in err[-1]


def test_a_failure_without_a_hint_says_how_to_run_again(orch_cli, tmp_path):
    (tmp_path / "term_steps.py").write_text(FAILING_STEPS.replace(', "hint": "add a price column to input.csv"', ""))
    (tmp_path / "recipe.yaml").write_text(FAILING_RECIPE)
    outcome = orch_cli("run", "recipe.yaml", env={"PYTHONPATH": str(tmp_path)})
    assert "orch:   hint: fix it, then run again from this step: orch run recipe.yaml --resume-from second" \
        in outcome.err


@pytest.mark.parametrize("merge", ["2>&1", "2>/dev/null"])
def test_a_reader_that_goes_away_neither_stops_nor_half_records_the_run(tmp_path, merge):
    command = f"'{orch_executable()}' run 12_advanced_full {merge} | head -2"
    shown = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert len(shown.stdout.splitlines()) == 2
    listing = subprocess.run([orch_executable(), "runs", "list", "--json"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
    runs = json.loads(listing.stdout)
    assert len(runs) == 1
    assert (runs[0]["status"], runs[0]["steps"]) == ("ok", {"ok": 12}), runs[0]


@pytest.mark.parametrize("ms, shown", [
    (None, "-"), ("12", "-"), (True, "-"), (0, "0.0 ms"), (4.24, "4.2 ms"), (9.99, "10.0 ms"), (42.4, "42 ms"),
    (999.4, "999 ms"), (1000, "1.00 s"), (6007, "6.01 s"), (12_000, "12.00 s"), (59_990, "59.99 s"),
    (60_000, "1 min 00 s"), (125_000, "2 min 05 s"), (3_600_000, "1 h 00 min"), (7_500_000, "2 h 05 min"),
])
def test_one_duration_format(ms, shown):
    assert format_duration(ms) == shown


@pytest.mark.parametrize("args", [["steps", "list"], ["plugins", "list"], ["recipes", "list"]])
def test_listings_on_a_terminal_fit_its_width_and_show_no_markup(tmp_path, args):
    child = pexpect.spawn(orch_executable(), args, cwd=str(tmp_path), dimensions=(50, 80), encoding="utf-8",
                          timeout=60)
    child.expect(pexpect.EOF)
    screen = [line for line in screen_of(child.before) if line.strip()]
    assert len(screen) > 3
    assert max(len(line) for line in screen) <= 80, "\n".join(screen)
    assert not any("``" in line or ":class:`" in line for line in screen)


def test_piped_listings_keep_one_row_a_line(orch_cli):
    out = orch_cli("steps", "list").assert_success().out.splitlines()
    assert out[0].split() == ["NAME", "PACK", "PARAMS", "OUTPUTS", "DESCRIPTION"]
    row = next(line for line in out if line.startswith("curriculum:compute_numbers "))
    assert row.endswith("Summarise numbers into numbers.stats_v1: the smallest complete scriptlet.")
    assert all(line == line.rstrip() for line in out)


def test_the_help_lists_every_command_summary_whole(orch_cli):
    out = orch_cli("--help").assert_success().out
    assert "..." not in out.split("Commands:")[1]
    flat = " ".join(out.split())
    assert "serve Serve the state store: the runs, their steps and context, writes, live events, and a dashboard." \
        in flat
