"""The one-JSON-line-per-step contract on stdout (guide §9, §10.4).

Lines come out in plan order, whatever order parallel steps finish in, so the
output of a run is the same every time. Registered as the built-in plugin ``reporter``, so
another plugin can look it up, wrap it or replace it.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator_core._markers import hookimpl


class JsonLinesReporter:
    """Prints each step's status line once every earlier step in the plan has its line."""

    def __init__(self) -> None:
        self._order: list[str] = []
        self._next = 0
        self._lines: dict[str, dict[str, Any]] = {}
        self._stream: Any = None

    @hookimpl
    def orch_run_start(self, run: Any) -> None:
        self._order = [s.name for s in run.plan]
        self._next = 0
        self._lines = {}
        self._stream = run.config.output

    @hookimpl
    def orch_after_step(self, step: Any, result: Any) -> None:
        self._lines[step.name] = result.line()
        self._flush(final=False)

    @hookimpl
    def orch_on_step_error(self, step: Any, error: dict[str, Any]) -> None:
        self._lines[step.name] = error
        self._flush(final=False)

    @hookimpl
    def orch_run_finish(self, run: Any) -> None:
        self._flush(final=True)

    def _flush(self, *, final: bool) -> None:
        while self._next < len(self._order):
            line = self._lines.pop(self._order[self._next], None)
            if line is None and not final:
                break
            if line is not None:
                self._stream.write(json.dumps(line, separators=(",", ":")) + "\n")
            self._next += 1
        self._stream.flush()

