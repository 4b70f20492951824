"""Lines written while a live bar is on screen: printed above it, in batches, in the order written.

While the bar is live, everything that reaches the same terminal must go above it, or
it lands in the middle of the bar: orch's own lines (``orch: [3/12] ok ...``), the JSON
lines when stdout is that terminal, and what the steps print (``print`` in a step, a
shell script's stderr). Each print above a live bar redraws the bar, and rich renders
each line it prints: done line by line that costs ~2 ms a line, so a step printing
thousands of lines ran 15-60 times slower at a terminal than with ``--no-progress``.

So every stream that reaches the bar's terminal is replaced, while the bar is live, by
a :class:`LineStream` that only queues its whole lines here (a lock and a list append),
and :class:`LinesAboveTheBar` prints the queue in one go (one redraw of the bar, the
text written as it is, not rendered) at most ``ABOVE_THE_BAR_S`` after the first line
of a batch. There is one queue for all those streams, so the screen shows the lines in
the order they were written: a step's ``[n/N] ok`` line before what the next step
prints. :meth:`LinesAboveTheBar.close` prints what is left, before the bar stops and
the summary is printed; later writes go straight to the stream. A writer that finds
``MOST_WAITING`` lines queued prints them itself, so a terminal that stops reading
holds the writers back instead of letting the queue grow.

Other processes write to the terminal's descriptors, not to these streams: their text
would land on the bar's line, and its next redraw would erase it. So a program orch
starts for a step copies the program's output into ``sys.stderr`` while it is routed
here (:func:`above_a_live_bar`): the shell step type always, the process executor's
workers and the run's own Dask workers while the bar is live (``orchestrator_process/output.py``,
``orchestrator_dask/output.py``).
"""

from __future__ import annotations

import codecs
import sys
import threading
from typing import Any, TextIO

from orchestrator_core.display.streams import WrappedStream

# Lines printed above the live bar wait up to this long for others, to go out in one print.
ABOVE_THE_BAR_S = 0.05
# A writer that finds this many lines waiting prints them itself: a terminal that stops reading
# (paused output) holds the writers back, as it would without the bar, instead of the queue growing.
MOST_WAITING = 10_000


class _Verbatim:
    """A rich renderable that writes its text as it is (no wrapping, markup or highlighting)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.segment import Segment

        yield Segment(self.text)


class LinesAboveTheBar:
    """The lines waiting to be printed above a live rich bar, and the timer that prints them."""

    def __init__(self, bar: Any, wait: float = ABOVE_THE_BAR_S):
        self.bar = bar
        self.wait = wait
        self.live = True  # False once closed: writes go straight to their stream
        self.lock = threading.Lock()  # guards the queue, the streams' partial lines and ``live``
        self._printing = threading.Lock()  # held while a batch is printed: batches keep their order
        self._queue: list[str] = []
        self._streams: list[LineStream] = []
        self._timer: threading.Timer | None = None

    def stream(self, underlying: TextIO) -> LineStream:
        """A stand-in for ``underlying`` whose lines are printed above the bar while it is live."""
        line_stream = LineStream(underlying, self)
        self._streams.append(line_stream)
        return line_stream

    def add(self, line: str) -> None:
        """Queue one line (without its newline); it is printed within ``wait`` seconds."""
        with self.lock:
            if self.live:
                full = self.queue_locked([line])
            else:
                full = None
        if full is None:
            self.bar.console.file.write(line + "\n")
        elif full:
            self.print_waiting()

    def queue_locked(self, lines: list[str]) -> bool:
        """Queue ``lines``; the caller holds :attr:`lock` and saw :attr:`live` true.

        True when ``MOST_WAITING`` lines wait: the caller then calls :meth:`print_waiting`
        itself, once it let go of the lock.
        """
        self._queue.extend(lines)
        if self._timer is None:
            self._timer = threading.Timer(self.wait, self.print_waiting)
            self._timer.daemon = True
            self._timer.start()
        return len(self._queue) >= MOST_WAITING

    def print_waiting(self) -> None:
        """Print the queued lines above the bar, in one print (from the timer, or at the end)."""
        with self._printing:
            with self.lock:
                lines, self._queue = self._queue, []
                timer, self._timer = self._timer, None
            if timer is not None and timer is not threading.current_thread():
                timer.cancel()
            if lines:
                text = "\n".join(lines) + "\n"
                self.bar.console.print(_Verbatim(text), soft_wrap=True, crop=False)

    def close(self) -> None:
        """Print every line still waiting (a last line without its newline too); later writes go straight through."""
        with self.lock:
            self.live = False
            for line_stream in self._streams:
                if line_stream.partial:
                    self._queue.append(line_stream.partial)
                    line_stream.partial = ""
        self.print_waiting()


class LineStream(WrappedStream):
    """A text stream whose whole lines go above the live bar; its own once the bar is gone.

    ``flush`` does nothing while the bar is live: a step that flushes after each line
    (``print(..., flush=True)``) must not make each line a print of its own.
    """

    def __init__(self, stream: TextIO, above: LinesAboveTheBar):
        super().__init__(stream)
        self.above = above
        self.partial = ""  # text written after the last newline

    def write(self, text: str) -> int:
        above = self.above
        full = False
        with above.lock:
            if not above.live:
                return self.stream.write(text)
            if "\n" not in text:
                self.partial += text
            else:
                *lines, self.partial = (self.partial + text).split("\n")
                full = above.queue_locked(lines)
        if full:
            above.print_waiting()
        return len(text)

    def flush(self) -> None:
        if not self.above.live:
            self.stream.flush()


def above_a_live_bar(stream: Any) -> bool:
    """Whether what is written to ``stream`` (looked at through the wrappers around it) goes above a live bar."""
    while isinstance(stream, WrappedStream):
        if isinstance(stream, LineStream):
            return stream.above.live
        stream = stream.stream
    return False


class WorkerLines:
    """The text one worker process writes (through a pipe or a socket), copied to ``sys.stderr`` whole lines at a time.

    The process and Dask executors give their workers such a channel while a live bar is
    shown, so that a worker's text goes above the bar like a step's own: a line is copied
    once its end came, so it is never cut by the bar, and a character split between two
    reads is decoded whole.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def feed(self, chunk: bytes) -> None:
        """Copy the lines ``chunk`` ends; keep the unfinished one."""
        self._write(self._decoder.decode(chunk))

    def end(self) -> None:
        """The worker is gone: copy the unfinished last line as a line of its own."""
        self._write(self._decoder.decode(b"", final=True))
        if self._partial:
            self._write("\n")

    def _write(self, text: str) -> None:
        if "\n" not in text:
            self._partial += text
            return
        lines, _, self._partial = (self._partial + text).rpartition("\n")
        try:
            sys.stderr.write(lines + "\n")  # looked up each time: routed above the bar while it is live
        except (OSError, ValueError):
            pass  # orch's stderr is gone: the step's output with it, as without the bar
