"""Progress of a run on stderr: a live bar on a terminal, plain lines otherwise.

stdout carries only the JSON lines, so everything here goes to stderr. ``rich`` is
imported only when stderr is a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from orchestrator_core._markers import hookimpl


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


class Progress:
    """Reports each finished step and a summary at the end of the run."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._running: list[str] = []
        self._done = 0
        self._total = 0
        self._enabled = False

    def _write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    @hookimpl
    def orch_run_start(self, run: Any) -> None:
        wanted = run.config.progress
        self._enabled = wanted is not False
        self._total, self._done, self._running = len(run.plan), 0, []
        if not self._enabled:
            return
        self._write(f"orch: run {run.id} of {run.recipe.name}: {self._total} step(s)")
        if wanted is None and sys.stderr.isatty():
            self._start_bar()

    def _start_bar(self) -> None:
        try:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn
        except ImportError:
            return
        self._bar = Bar(
            TextColumn("[bold]orch"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), console=Console(stderr=True), transient=True,
        )
        self._task = self._bar.add_task("", total=self._total)
        self._bar.start()

    def _update(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self._done, description=", ".join(self._running[:4]))

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
            self._finish_step(step, f"ok     {step.name} {_ms(result.metrics.get('duration_ms', 0))}{cached}")

    @hookimpl
    def orch_on_step_error(self, step: Any, error: dict[str, Any]) -> None:
        if self._enabled:
            self._finish_step(step, f"ERROR  {step.name}: {error.get('reason')}")

    @hookimpl
    def orch_run_finish(self, run: Any) -> None:
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        counts: dict[str, int] = {}
        for result in run.results.values():
            counts[result.status] = counts.get(result.status, 0) + 1
        not_run = len(run.plan) - len(run.results)
        took = (run.finished or time.time()) - run.started
        summary = f"{counts.get('ok', 0)} ok, {counts.get('error', 0)} failed"
        if not_run:
            summary += f", {not_run} not run"
        self._write(f"orch: run {run.id} {run.status}: {summary} in {took:.2f} s")

