"""A step the run was running when it was stopped is ``interrupted`` in the report, not ``not run``.

Real runs: ``orch run`` killed with SIGKILL, or stopped with SIGTERM, while its
second step waits on a gate file; then ``orch report`` in every format.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from orch_test_helpers import wait_for

KILLED = """\
name: stopped
steps:
  - {name: first, uses: put, params: {values: {t.a_v1: 1}}}
  - {name: slow, uses: wait, depends_on: [first], params: {started: started.flag, gate: gate.flag}}
  - {name: after, uses: put, depends_on: [slow], params: {values: {t.b_v1: 2}}}
"""
EXPECTED = {"first": "ok", "slow": "interrupted", "after": "not run"}


def stopped_run(recorded, workdir: Path, signum: int) -> int:
    """Run :data:`KILLED` until its step ``slow`` is running, then send ``signum`` to it; its exit status."""
    (workdir / "stopped.yaml").write_text(KILLED)
    (workdir / "gate.flag").write_text("closed")
    proc = recorded.popen("run", "stopped.yaml", "--no-progress", cwd=workdir)
    try:
        wait_for(lambda: (workdir / "started.flag").exists(), what="step slow to start")
        os.killpg(proc.pid, signum)
        if signum != signal.SIGKILL:
            (workdir / "gate.flag").unlink()  # the step that was abandoned may end too
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        proc.communicate()
    return proc.returncode


def test_a_step_running_when_the_run_was_killed_is_interrupted_in_every_format(recorded, tmp_path):
    assert stopped_run(recorded, tmp_path, signal.SIGKILL) == -signal.SIGKILL
    outcome = recorded.orch("report", "--json", "--format", "md", "--format", "html", "--format", "xlsx",
                            "--out", "out", cwd=tmp_path).assert_success()
    markdown = (tmp_path / "out" / "report.md").read_text()
    rows = [line.split("|")[1:3] for line in markdown.splitlines() if line.startswith("| first |")
            or line.startswith("| slow |") or line.startswith("| after |")]
    assert {name.strip(): status.strip() for name, status in rows} == EXPECTED
    assert "| Steps | 1 interrupted, 1 not run, 1 ok |" in markdown
    assert 'slow["slow<br/>interrupted"]' in markdown  # the graph says it too

    html = (tmp_path / "out" / "report.html").read_text()
    shown = dict(re.findall(r'<tr data-step="(\w+)">\s*<td><code>\w+</code></td>\s*'
                            r'<td class="status status-[\w-]+">([\w ]+)</td>', html))
    assert shown == EXPECTED
    assert re.search(r'<g class="node running" data-step="slow"><title>slow: interrupted</title>', html)

    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "out" / "metrics_summary.xlsx")["steps"]
    assert {row[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True)} == EXPECTED
    document = json.loads(outcome.out)
    assert document["status"] == "killed" and document["steps"] == EXPECTED


def test_a_step_abandoned_by_sigterm_is_interrupted(recorded, tmp_path):
    assert stopped_run(recorded, tmp_path, signal.SIGTERM) == 130
    document = json.loads(recorded.orch("report", "--json", "--out", "out", cwd=tmp_path).assert_success().out)
    assert document["status"] == "interrupted" and document["steps"] == EXPECTED


@pytest.mark.parametrize("run", ["failed", "second"])
def test_steps_a_failure_held_back_stay_not_run(recorded, run):
    outcome = recorded.orch("report", getattr(recorded, run), "--json", "--out", "out").assert_success()
    document = json.loads(outcome.out)
    expected = ({"load": "ok", "explode": "error", "after": "not run"} if run == "failed"
                else {"load": "ok", "left": "ok", "right": "ok", "total": "ok"})
    assert document["steps"] == expected
