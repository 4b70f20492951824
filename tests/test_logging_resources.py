"""Logs to stderr at the chosen level, resource figures, and progress on a terminal or not."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

from orchestrator_core import get_logger, track_resources
from orchestrator_core.testing import orch_executable


def test_log_level_flag_and_environment(orch_cli, sample_pack_path, tmp_path):
    (tmp_path / "r.yaml").write_text("steps: [{name: a, uses: noop}]")
    quiet = orch_cli("run", "r.yaml", pythonpath=[sample_pack_path]).assert_success()
    assert "DEBUG" not in quiet.err
    loud = orch_cli("--log-level", "debug", "run", "r.yaml", pythonpath=[sample_pack_path]).assert_success()
    assert "DEBUG" in loud.err
    traced = orch_cli("run", "r.yaml", pythonpath=[sample_pack_path],
                      env={"ORCH_LOG_LEVEL": "DEBUG", "ORCH_TRACE_PLUGINS": "1"}).assert_success()
    assert "call orch_before_step" in traced.err
    bad = orch_cli("--log-level", "chatty", "run", "r.yaml", pythonpath=[sample_pack_path])
    assert bad.exit_code == 2 and "unknown log level" in bad.err


def test_get_logger_writes_to_stderr(capsys):
    from orchestrator_core.log import configure_logging

    configure_logging("INFO")
    get_logger("orch.test").info("visible on stderr")
    captured = capsys.readouterr()
    assert "visible on stderr" in captured.err and captured.out == ""
    configure_logging("WARNING")


def test_track_resources_measures_each_call():
    class Work:
        @track_resources
        def run(self, n):
            return sum(i * i for i in range(n))

    work = Work()
    assert work.run(200_000) == sum(i * i for i in range(200_000))
    figures = work.last_resources
    assert figures["duration_ms"] > 0 and figures["cpu_ms"] > 0 and figures["peak_rss_kb"] > 0
    assert Work.run.last_resources == figures


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(orch_cli, sample_pack_path):
    outcome = orch_cli("run", "sample_chain", pythonpath=[sample_pack_path]).assert_success()
    lines = [line for line in outcome.err.splitlines() if line.startswith("orch: [")]
    assert [line.split()[2:4] for line in lines] == [["ok", "first"], ["ok", "second"], ["ok", "total"]]
    assert "\x1b[" not in outcome.err, "no terminal control codes in a log file"
    silent = orch_cli("run", "sample_chain", "--no-progress", pythonpath=[sample_pack_path]).assert_success()
    assert "orch: [" not in silent.err


def test_progress_bar_on_a_terminal(sample_pack_path, tmp_path):
    (tmp_path / "slow.yaml").write_text("steps: [{name: nap, uses: sleepy, params: {seconds: 0.6}}]")
    leader, follower = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(sample_pack_path), COLUMNS="100", TERM="xterm")
    proc = subprocess.Popen([orch_executable(), "run", "slow.yaml"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        out = proc.stdout.read()
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.stdout.close()
        os.close(leader)
    text = seen.decode(errors="replace")
    assert proc.returncode == 0
    assert "\x1b[" in text and "nap" in text and "0/1" in text, "a live bar with the running step"
    assert b'"outputs":["t.slept_v1"]' in out
