"""What a step prints comes after the lines of the steps that finished before it started.

Finished steps are reported a group at a time (``reports.py``), and before a step of a
handler known to be quick the runner does not commit the group: a chain of quick steps
shares one commit. Such a step runs on the runner's own thread while the steps before
it are still unreported, so what it printed reached the screen before their
``orch: [n/N] ok`` lines and JSON lines. A step that prints nothing must not pay for
the order of those that do, so the order is kept at the first write, not before each
step: while a run executes, ``sys.stdout`` and ``sys.stderr`` are each seen through a
:class:`ReportsFirst`, whose write on the runner's thread first has the steps waiting
reported (``ReportQueue.flush``), then writes. Other threads never flush (the runner
owns the group); the engine commits the group before it hands a step to a parallel
executor instead (``ReportQueue.flush_before``). A step the thread executor queued ahead
may start on a worker as soon as the step before it finished, before the runner saw
that: its lines may come first, like those of steps running side by side. Holding them
back would take a mark at every step's finish and a buffer for every worker's lines.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, TextIO

from orchestrator_core.display.streams import WrappedStream

if TYPE_CHECKING:
    from orchestrator_core.run.reports import ReportQueue


class ReportsFirst(WrappedStream):
    """A step's stream whose first write on the runner's thread reports the steps waiting first."""

    def __init__(self, stream: TextIO, reports: ReportQueue, runner: int):
        super().__init__(stream)
        self.reports = reports
        self.runner = runner  # the runner thread's ident
        self.active = True  # False once the run's steps are over: a plain pass-through

    def write(self, text: str) -> int:
        reports = self.reports
        if reports.waiting and self.active and threading.get_ident() == self.runner:
            reports.flush_for_output()
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


class StepStreams:
    """``sys.stdout`` and ``sys.stderr`` seen through :class:`ReportsFirst` while the engine runs steps."""

    def __init__(self, reports: ReportQueue):
        runner = threading.get_ident()
        self.before = out, err = sys.stdout, sys.stderr
        self.out = ReportsFirst(out, reports, runner) if out is not None else None
        self.err = self.out if err is out else ReportsFirst(err, reports, runner) if err is not None else None
        sys.stdout, sys.stderr = self.out, self.err  # type: ignore[assignment]

    def restore(self) -> None:
        """Give back the streams, where nobody replaced them meanwhile; ours pass through from here."""
        for stream in (self.out, self.err):
            if stream is not None:
                stream.active = False
        if sys.stdout is self.out:
            sys.stdout = self.before[0]
        if sys.stderr is self.err:
            sys.stderr = self.before[1]
