"""The one-JSON-line-per-step contract on stdout (guide §9, §10.4).

Lines come out in plan order, whatever order parallel steps finish in, so the
output of a run is the same every time. When the reader of stdout goes away
(``orch run R | head -1``), the lines stop with one warning and the run goes on to
its end, recorded in the state store as usual: a pipeline is not cut short, or left
half-recorded, by whoever was reading its log. A line that cannot be written for any
other reason (a full disk behind ``> out.jsonl``) is output the user asked for and
lost: the run stops with an :class:`~orchestrator_core.errors.OutputError`, recorded
as ``error`` with that reason, as when the state store cannot record a step.
Registered as the built-in plugin ``reporter``, so another plugin can look it up, wrap
it or replace it.
"""

from __future__ import annotations

import logging
from typing import Any

from orchestrator_core._markers import hookimpl
from orchestrator_core.display.streams import discard_buffered
from orchestrator_core.errors import OutputError

logger = logging.getLogger("orchestrator.reporter")


class JsonLinesReporter:
    """Prints each step's status line once every earlier step in the plan has its line."""

    def __init__(self) -> None:
        self._order: list[str] = []
        self._next = 0
        self._lines: dict[str, str] = {}
        self._stream: Any = None
        self._closed = False  # the reader of stdout went away, or stdout failed: nothing more is written

    @hookimpl
    def orch_run_start(self, run: Any) -> None:
        self._order = [s.name for s in run.plan]
        self._next = 0
        self._lines = {}
        self._stream = run.config.output
        self._closed = False

    @hookimpl
    def orch_after_step(self, step: Any, result: Any) -> None:
        if not self._lines and self._next < len(self._order) and self._order[self._next] == step.name:
            self._next += 1  # the usual case: the line due next, none held back
            self._write(result.json_line())
            return
        self._lines[step.name] = result.json_line()
        self._flush(final=False)

    @hookimpl
    def orch_on_step_error(self, step: Any, result: Any) -> None:
        self._lines[step.name] = result.json_line()
        self._flush(final=False)

    @hookimpl
    def orch_run_finish(self, run: Any) -> None:
        self._flush(final=True)

    def _flush(self, *, final: bool) -> None:
        """Print the lines now due: one write and one flush, however many lines are due."""
        due = []
        while self._next < len(self._order):
            line = self._lines.pop(self._order[self._next], None)
            if line is None and not final:
                break
            if line is not None:
                due.append(line)
            self._next += 1
        if due or final:
            self._write("".join(due))

    def _write(self, text: str) -> None:
        if self._closed or self._stream is None:  # the run's start never reached this plugin
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except BrokenPipeError:
            self._closed = True
            logger.warning("stdout was closed by its reader: the run goes on without printing its JSON lines")
        except OSError as exc:
            self._closed = True
            discard_buffered(self._stream)  # the line is not written again when the stream is closed
            raise OutputError.writing("stdout", exc) from None

