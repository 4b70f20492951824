"""Progress of a run on stderr: a live bar on a terminal, plain lines otherwise.

stdout carries only the JSON lines, so everything here goes to stderr. ``rich`` is
imported only when stderr is a terminal.

While the bar is live, everything else written to its terminal must go above it, or it
lands in the middle of the bar rich keeps redrawing: orch's own lines, what the steps
print (``sys.stdout`` and ``sys.stderr``, a shell script's stderr), and the JSON lines
when stdout is the same terminal (the usual ``orch run R``). Those streams are routed,
while the bar is live, into one queue of lines printed above it in batches, in the
order written (``display/above_the_bar.py``). When stdout goes anywhere else (a pipe,
a file) it is left alone: the lines reach their reader unchanged.

The run ends with one summary line (``orch: 12 ok, 0 failed in 710 ms``) and, when a
step failed, its reason and a hint on what to do next: the last lines a user reads.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from orchestrator_core._markers import hookimpl
from orchestrator_core.display.above_the_bar import LinesAboveTheBar
from orchestrator_core.display.durations import format_duration


def same_terminal(a: Any, b: Any) -> bool:
    """Whether streams ``a`` and ``b`` are both the same terminal device."""
    try:
        if not (a.isatty() and b.isatty()):
            return False
        first, second = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return (first.st_rdev, first.st_ino) == (second.st_rdev, second.st_ino)


class Progress:
    """Reports each finished step and a summary at the end of the run."""

    def __init__(self) -> None:
        self.bar: Any = None
        self._task: Any = None
        self._running: list[str] = []
        self._done = 0
        self._total = 0
        self._enabled = False
        self._above: LinesAboveTheBar | None = None  # while the bar is live
        self._stdout_before: TextIO | None = None  # the run's stdout, while routed above the bar
        self._std_before: tuple[TextIO, TextIO] | None = None  # sys.stdout and sys.stderr, likewise
        self._failures: list[tuple[str, dict[str, Any]]] = []

    def _write(self, text: str) -> None:
        if self._above is not None:
            self._above.add(text)
        else:
            try:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()
            except OSError:
                # Progress is for a reader. A stderr that cannot take it (a full disk behind
                # ``2>>orch.log``) does not stop the work: the JSON lines, the store and the exit
                # status still say what happened.
                pass

    @hookimpl(tryfirst=True)  # before the JSON-lines reporter takes config.output
    def orch_run_start(self, run: Any) -> None:
        wanted = run.config.progress
        self._enabled = wanted is not False
        self._total, self._done, self._running, self._failures = len(run.plan), 0, [], []
        if not self._enabled:
            return
        self._write(f"orch: run {run.id} of {run.recipe.name}: {self._total} step(s)")
        if wanted is None and sys.stderr.isatty():
            self._start_bar()
        if self._above is not None and same_terminal(run.config.output, sys.stderr):
            self._stdout_before = run.config.stdout
            run.config.stdout = self._above.stream(run.config.output)

    def idle_hooks(self, run: Any) -> set[str]:
        """The per-step hooks that do nothing in this run (asked once it started: plugin/direct_calls.py)."""
        if not self._enabled:
            return {"orch_before_step", "orch_after_step", "orch_on_step_error"}
        return {"orch_before_step"} if self.bar is None else set()  # a step's start shows only on the bar

    def _start_bar(self) -> None:
        try:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn
        except ImportError:
            return
        # The bar's console writes to the real stderr; the steps' streams to it are routed
        # through ``self._above`` instead of rich's line-by-line redirection (above_the_bar.py).
        self.bar = Bar(
            TextColumn("[bold]orch"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), console=Console(file=sys.stderr), transient=False,
            redirect_stdout=False, redirect_stderr=False,
        )
        self._task = self.bar.add_task("", total=self._total)
        self.bar.start()
        self._above = LinesAboveTheBar(self.bar)
        self._std_before = (sys.stdout, sys.stderr)
        stderr = self._above.stream(sys.stderr)
        if sys.stdout is sys.stderr:
            sys.stdout = stderr  # one stream (a run sends prints to stderr): one partial line
        elif same_terminal(sys.stdout, sys.stderr):
            sys.stdout = self._above.stream(sys.stdout)
        sys.stderr = stderr

    def _update(self) -> None:
        if self.bar is not None:
            self.bar.update(self._task, completed=self._done, description=", ".join(self._running[:4]))

    @hookimpl
    def orch_before_step(self, step: Any) -> None:
        if self._enabled and step.name not in self._running:
            self._running.append(step.name)
            self._update()

    def _finish_step(self, step: Any, text: str) -> None:
        if step.name in self._running:
            self._running.remove(step.name)
        self._done += 1
        self._write(f"orch: [{self._done:>{len(str(self._total))}}/{self._total}] {text}")
        self._update()

    @hookimpl
    def orch_after_step(self, step: Any, result: Any) -> None:
        if self._enabled:
            cached = " (cache hit)" if result.cache == "hit" else ""
            took = format_duration(result.metrics.get("duration_ms"))
            self._finish_step(step, f"ok     {step.name} {took}{cached}")

    @hookimpl
    def orch_on_step_error(self, step: Any, error: dict[str, Any]) -> None:
        if self._enabled:
            self._failures.append((step.name, error))
            self._finish_step(step, f"ERROR  {step.name}: {error.get('reason')}")

    def _stop_bar(self) -> None:
        """Print every line still above the bar, show its last state, and give the streams back."""
        above, self._above = self._above, None
        if above is not None:
            above.close()
        self._running = []
        self._update()
        self.bar.stop()
        self.bar = None
        if self._std_before is not None:
            sys.stdout, sys.stderr = self._std_before
            self._std_before = None

    @hookimpl(trylast=True)  # after the reporter's last JSON lines: the summary is the last line
    def orch_run_finish(self, run: Any) -> None:
        if not self._enabled:
            return  # off, or the run stopped before this plugin's orch_run_start (its error says why)
        self._enabled = False  # until the next run's start
        running = list(self._running)
        if self.bar is not None:
            self._stop_bar()
        if self._stdout_before is not None:
            run.config.stdout, self._stdout_before = self._stdout_before, None
        for name, error in self._failures:
            self._write(f"orch: step {name} failed: {error.get('reason')}")
            self._write(f"orch:   hint: {failure_hint(run, name, error)}")
        if run.status == "interrupted":
            for line in interrupted_lines(run, running):
                self._write(line)
        self._write(f"orch: run {run.id} {run.status}: {summary_line(run)}")


def summary_line(run: Any) -> str:
    """``12 ok, 0 failed in 710 ms`` (plus ``, 1 finished but not recorded`` when the store
    refused a group of finished steps, and ``, 3 not run`` when some steps never ran)."""
    counts: dict[str, int] = {}
    for result in run.results.values():
        counts[result.status] = counts.get(result.status, 0) + 1
    unrecorded = len(getattr(run, "unrecorded", ()))
    not_run = len(run.plan) - len(run.results) - unrecorded
    finished = run.finished if run.finished is not None else time.time()
    summary = f"{counts.get('ok', 0)} ok, {counts.get('error', 0)} failed"
    if unrecorded:
        summary += f", {unrecorded} finished but not recorded"
    if not_run:
        summary += f", {not_run} not run"
    return f"{summary} in {format_duration((finished - run.started) * 1000)}"


def interrupted_lines(run: Any, running: list[str]) -> list[str]:
    """What an interrupted run stopped (the steps it was running, when known) and how to go on from
    the first step of its plan that did not finish ok."""
    unfinished = [step.name for step in run.plan if not (step.name in run.results and run.results[step.name].ok)]
    if not unfinished:
        return []
    stopped = [name for name in running if name not in run.results]
    lines = [f"orch: interrupted while running {', '.join(stopped)}"] if stopped else []
    lines.append(f"orch:   hint: go on from there: orch run {recipe_reference(run)} --resume-from {unfinished[0]}")
    return lines


def failure_hint(run: Any, step: str, error: dict[str, Any]) -> str:
    """What to do about a failed step: the hint its error carries, else how to run again from it."""
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    hint = error.get("hint") or details.get("hint")
    if hint:
        return str(hint)
    return f"fix it, then run again from this step: orch run {recipe_reference(run)} --resume-from {step}"


def recipe_reference(run: Any) -> str:
    """How the user most likely named the recipe: its path under the working directory, else its name."""
    path = getattr(run.recipe, "path", None)
    if path:
        try:
            return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
        except (ValueError, OSError):
            pass
    return run.recipe.name
