"""Steps queued ahead in the thread executor: a queued step has not started, as far as anyone can tell.

The engine hands the thread executor more ready steps than it has workers, so a worker that
finishes a step starts the next one without waiting for the runner thread. These tests run the
real ``orch`` and check what users see: ``--workers`` steps at a time, timeouts counted from a
step's real start, ``step_start`` events only for steps that started, nothing new started after
a failure (without ``--keep-going``) or after Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator_core.testing import orch_executable

MARKS = '''
import os
import time

from orchestrator_core import BaseScriptlet, ScriptletError


class Mark(BaseScriptlet):
    """Append "start NAME" and "end NAME" to the file ``log`` around a nap of ``seconds``; fail when asked.

    With ``until`` (a file and texts), the nap goes on until a line of the file holds every text
    (at most a minute).
    """

    name = "mark"
    outputs = ()
    parallelizable = True

    def run(self, ctx, params):
        self._note(params["log"], f"start {ctx.step}")
        end = time.monotonic() + params["seconds"]
        while time.monotonic() < end and not ctx.cancelled:
            time.sleep(0.01)
        if params.get("until"):
            path, texts = params["until"]
            end = time.monotonic() + 60
            while not self._has_line(path, texts) and time.monotonic() < end and not ctx.cancelled:
                time.sleep(0.01)
        self._note(params["log"], f"end {ctx.step}")
        if params.get("fail"):
            raise ScriptletError("failed on purpose")

    @staticmethod
    def _has_line(path, texts):
        try:
            with open(path, encoding="utf-8") as lines:
                return any(all(text in line for text in texts) for line in lines)
        except FileNotFoundError:
            return False

    @staticmethod
    def _note(path, text):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            os.write(fd, (text + "\\n").encode())
        finally:
            os.close(fd)
'''


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "marks.py").write_text(MARKS)
    return tmp_path


def step(name: str, seconds: float, log: Path, **extra: object) -> str:
    params = {"log": str(log), "seconds": seconds, **extra.pop("params", {})}
    fields = {"name": name, "type": "python", "module": "marks", "function": "Mark", "depends_on": [],
              "params": params, **extra}
    return "  - " + json.dumps(fields)


def orch_run(workdir: Path, recipe: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    (workdir / "recipe.yaml").write_text(recipe)
    env = dict(os.environ, PYTHONPATH=str(workdir))
    return subprocess.run([orch_executable(), "run", "recipe.yaml", "--no-progress", "--events", "ev.jsonl", *args],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


def events(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "ev.jsonl").read_text().splitlines()]


def most_at_once(marks: list[str], begin: str, finish: set[str]) -> int:
    """The most steps between their ``begin`` and ``finish`` entries at any point of ``marks``."""
    running: set[str] = set()
    most = 0
    for kind, name in (entry.split(" ", 1) for entry in marks):
        if kind == begin:
            running.add(name)
        elif kind in finish:
            running.discard(name)
        most = max(most, len(running))
    return most


def test_queued_steps_time_out_from_their_real_start_and_workers_bound_what_runs(workdir):
    # Each step naps 0.5 s of its 2 s timeout (1.5 s to spare on a loaded machine); two at a time,
    # the last two start 2.5 s after they were queued: counted from then, they would time out.
    log = workdir / "marks.log"
    recipe = "steps:\n" + "\n".join(step(f"s{i}", 0.5, log, timeout=2) for i in range(12)) + "\n"
    done = orch_run(workdir, recipe, "--workers", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(line["step"], line["status"]) for line in lines] == [(f"s{i}", "ok") for i in range(12)]
    marks = log.read_text().splitlines()
    assert len(marks) == 24 and most_at_once(marks, "start", {"end"}) == 2
    # the events a dashboard shows: a step is "started" only once a worker took it
    shown = [f"{e['event']} {e['step']}" for e in events(workdir) if e["event"].startswith("step_")]
    assert [entry.split()[0] for entry in shown].count("step_start") == 12
    assert most_at_once(shown, "step_start", {"step_finish", "step_error"}) <= 2


def test_after_a_failure_no_queued_step_starts(workdir):
    # boom fails once p1 runs beside it; p1 ends only once boom's failure is in the events file, so
    # the worker that ran it looks for its next step after the failure, however the threads are
    # scheduled (with fixed naps, a step could start between boom's end mark and its failure).
    log, events_file = workdir / "marks.log", workdir / "ev.jsonl"
    recipe = "steps:\n" + "\n".join(
        [step("boom", 0.3, log, params={"fail": True, "until": [str(log), ["start p1"]]}),
         step("p1", 0.2, log, params={"until": [str(events_file), ['"event":"step_error"', '"step":"boom"']]})]
        + [step(f"p{i}", 0.2, log) for i in range(2, 10)]) + "\n"
    done = orch_run(workdir, recipe, "--workers", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    marks = log.read_text().splitlines()
    failed_at = marks.index("end boom")
    assert not [m for m in marks[failed_at:] if m.startswith("start")], marks
    started = {m.split()[1] for m in marks if m.startswith("start")}
    reported = {json.loads(line)["step"] for line in done.stdout.splitlines()}
    assert reported == started == {"boom", "p1"}, (reported, marks)
    assert {e["step"] for e in events(workdir) if e["event"] == "step_start"} == started

    (workdir / "marks.log").unlink()
    events_file.unlink()
    going = orch_run(workdir, recipe, "--workers", "2", "--keep-going")
    assert going.returncode == 1
    assert len(going.stdout.splitlines()) == 10 and len(log.read_text().splitlines()) == 20


def test_ctrl_c_cancels_queued_steps_before_they_start(workdir):
    log = workdir / "marks.log"
    recipe = "steps:\n" + "\n".join(step(f"n{i}", 60, log) for i in range(6)) + "\n"
    (workdir / "recipe.yaml").write_text(recipe)
    env = dict(os.environ, PYTHONPATH=str(workdir))
    proc = subprocess.Popen([orch_executable(), "run", "recipe.yaml", "--no-progress", "--workers", "2",
                             "--events", "ev.jsonl"], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if log.exists() and len(log.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # a worker that wrongly started a queued step would have marked it by now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert out == ""
    time.sleep(0.3)  # nothing starts after orch exited either
    starts = [m for m in log.read_text().splitlines() if m.startswith("start")]
    assert sorted(starts) == ["start n0", "start n1"]  # the two workers start them in either order
    recorded = events(workdir)
    assert sorted(e["step"] for e in recorded if e["event"] == "step_start") == ["n0", "n1"]
    assert recorded[-1]["event"] == "run_finish" and recorded[-1]["status"] == "interrupted"


def test_a_step_queued_behind_one_that_times_out_runs_on_its_replacement_thread(workdir):
    log = workdir / "marks.log"
    recipe = "steps:\n" + "\n".join([step("stuck", 30, log, timeout=3),
                                     step("behind", 0.2, log, timeout=2)]) + "\n"  # 1.8 s to spare
    done = orch_run(workdir, recipe, "--workers", "1", "--keep-going")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = {line["step"]: line for line in map(json.loads, done.stdout.splitlines())}
    assert lines["stuck"]["exit_code"] == 124 and lines["behind"]["status"] == "ok", lines
    # it waited 3 s in the queue, longer than its own timeout: that did not count
    marks = log.read_text().splitlines()
    assert marks.index("start behind") > marks.index("start stuck") and "end behind" in marks
