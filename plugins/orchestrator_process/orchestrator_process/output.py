"""What a worker prints, shown above orch's live progress bar instead of on its line.

A worker writes to the descriptors it inherited, so at a terminal its text went
straight to the screen: its first line glued after the bar's text, and the bar's
next redraw erased it. While the bar is live (``sys.stderr`` of orch is routed above
it: ``above_a_live_bar``), each worker gets a pipe of its own instead as its stdout
and stderr. The pool's monitor thread, which already waits on every worker, reads
those pipes and writes their whole lines to ``sys.stderr``, where they go above the
bar with orch's own lines. Before it hands the runner a step's result it reads what
that worker wrote until then, so a step's lines come before its ``[n/N]`` line, as
for a step run inline. Without the bar (``--no-progress``, not a terminal) workers
keep the parent's descriptors and nothing is copied.
"""

from __future__ import annotations

import os
import sys

from orchestrator_core.display.above_the_bar import WorkerLines, above_a_live_bar

READ_SIZE = 65536


def wanted() -> bool:
    """Whether workers started now should write through the parent (a live bar is on its terminal)."""
    return above_a_live_bar(sys.stderr)


class WorkerOutput:
    """The parent's end of one worker's output pipe: whole lines go to ``sys.stderr``."""

    def __init__(self, read_fd: int):
        self.fd = read_fd
        os.set_blocking(read_fd, False)
        self._lines = WorkerLines()

    @classmethod
    def pipe(cls) -> tuple[WorkerOutput, int]:
        """A new pipe: the parent's reading end, and the descriptor the worker writes to."""
        read_fd, write_fd = os.pipe()
        return cls(read_fd), write_fd

    def fileno(self) -> int:
        return self.fd

    def drain(self) -> bool:
        """Copy what the worker wrote so far; False once its end is closed (the worker and its children are gone)."""
        while self.fd >= 0:
            try:
                chunk = os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                return True
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return False
            self._lines.feed(chunk)
        return False

    def close(self) -> None:
        """Copy the rest (an unfinished last line as a line of its own) and close the pipe."""
        if self.fd < 0:
            return
        try:
            while True:
                chunk = os.read(self.fd, READ_SIZE)
                if not chunk:
                    break
                self._lines.feed(chunk)
        except OSError:  # BlockingIOError: a program the step started still holds it open
            pass
        os.close(self.fd)
        self.fd = -1
        self._lines.end()
