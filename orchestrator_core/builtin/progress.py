"""Progress of a run on stderr: a live bar on a terminal, plain lines otherwise.

stdout carries only the JSON lines, so everything here goes to stderr. ``rich`` is
imported only when stderr is a terminal.

When stdout and stderr are the same terminal (the usual ``orch run R``), two writers
share one screen: the JSON lines written to stdout would land in the middle of the
bar that rich keeps redrawing on stderr. So while the bar is live, the run's stdout
(``config.stdout``, where the JSON-lines reporter writes) is routed through the
bar's console, which prints each line above the bar. When stdout goes anywhere else
(a pipe, a file) it is left alone: the lines reach their reader unchanged.

The run ends with one summary line (``orch: 12 ok, 0 failed in 710 ms``) and, when a
step failed, its reason and a hint on what to do next: the last lines a user reads.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from orchestrator_core._markers import hookimpl
from orchestrator_core.display.durations import format_duration


# Lines printed above the live bar wait up to this long for others, to go out in one print.
ABOVE_THE_BAR_S = 0.05


def same_terminal(a: Any, b: Any) -> bool:
    """Whether streams ``a`` and ``b`` are both the same terminal device."""
    try:
        if not (a.isatty() and b.isatty()):
            return False
        first, second = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return (first.st_rdev, first.st_ino) == (second.st_rdev, second.st_ino)


class _AboveTheBar:
    """The run's stdout while the bar is live: whole lines are printed above the bar."""

    def __init__(self, progress: Progress, stream: TextIO):
        self._progress = progress
        self.stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        if self._progress.bar is None:
            return self.stream.write(text)
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._progress.print_above(line)
        return len(text)

    def flush(self) -> None:
        if self._progress.bar is None:
            self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class Progress:
    """Reports each finished step and a summary at the end of the run."""

    def __init__(self) -> None:
        self.bar: Any = None
        self._task: Any = None
        self._running: list[str] = []
        self._done = 0
        self._total = 0
        self._enabled = False
        self._routed: _AboveTheBar | None = None
        self._stdout_before: TextIO | None = None
        self._failures: list[tuple[str, dict[str, Any]]] = []
        self._above: list[str] = []  # lines waiting to be printed above the bar
        self._above_lock = threading.Lock()
        self._printing = threading.Lock()  # held while lines are printed above the bar, in order
        self._timer: threading.Timer | None = None

    def _write(self, text: str) -> None:
        if self.bar is not None:
            self.print_above(text)
        else:
            try:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()
            except OSError:
                # Progress is for a reader. A stderr that cannot take it (a full disk behind
                # ``2>>orch.log``) does not stop the work: the JSON lines, the store and the exit
                # status still say what happened.
                pass

    def print_above(self, line: str) -> None:
        """Print ``line`` above the live bar, with the others of the next ``ABOVE_THE_BAR_S``.

        Each print above a live bar redraws the bar (~1 ms: a 3,000-step run spent 2.5 s of its
        2.7 s there), so the lines of a moment go out in one print, at most ``ABOVE_THE_BAR_S``
        after the first of them, in the order they came (the steps' lines and the JSON lines alike).
        """
        with self._above_lock:
            self._above.append(line)
            if self._timer is None:
                self._timer = threading.Timer(ABOVE_THE_BAR_S, self._print_waiting)
                self._timer.daemon = True
                self._timer.start()

    def _print_waiting(self) -> None:
        """Print the lines waiting above the bar (from the timer, or at the run's end)."""
        with self._printing:
            with self._above_lock:
                lines, self._above = self._above, []
                timer, self._timer = self._timer, None
            if timer is not None and timer is not threading.current_thread():
                timer.cancel()
            bar = self.bar
            if lines and bar is not None:
                bar.console.print("\n".join(lines), markup=False, highlight=False, emoji=False, soft_wrap=True)

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
        if self.bar is not None and same_terminal(run.config.output, sys.stderr):
            self._routed = _AboveTheBar(self, run.config.output)
            self._stdout_before = run.config.stdout
            run.config.stdout = self._routed

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
        self.bar = Bar(
            TextColumn("[bold]orch"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), console=Console(stderr=True), transient=False,
        )
        self._task = self.bar.add_task("", total=self._total)
        self.bar.start()

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

    @hookimpl(trylast=True)  # after the reporter's last JSON lines: the summary is the last line
    def orch_run_finish(self, run: Any) -> None:
        if not self._enabled:
            return
        if self.bar is not None:
            self._print_waiting()
            self._running = []
            self._update()
            self.bar.stop()
            self.bar = None
        if self._routed is not None:
            run.config.stdout = self._stdout_before
            self._routed = None
        for name, error in self._failures:
            self._write(f"orch: step {name} failed: {error.get('reason')}")
            self._write(f"orch:   hint: {failure_hint(run, name, error)}")
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
