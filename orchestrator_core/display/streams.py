"""Standard streams that outlive their reader, and exist at all.

``orch run R 2>&1 | head -2`` closes the pipe behind stderr after two lines, while
the run still has steps to run. A write to a closed pipe raises ``BrokenPipeError``
wherever it happens (the progress display, a log record, a scriptlet's ``print``),
and that would stop the run half-way. Progress and logs are for a reader; when the
reader is gone they have nowhere to go, and the run must go on and be recorded as
usual. :class:`ReaderlessStream` wraps a text stream so that, on the first broken
pipe, its file descriptor is pointed at ``/dev/null`` (child processes started
afterwards inherit a harmless descriptor too) and every later write is dropped.

A command started with a standard descriptor closed (``orch run R >&-``, as cron and
daemons may) would otherwise find ``sys.stdout`` or ``sys.stderr`` to be ``None``, and
the first file it opens would take the free descriptor: the JSON lines, or a child's
output, would land in the state store or the events file.
:func:`open_standard_descriptors` points each closed one at ``/dev/null`` first.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO


def open_standard_descriptors() -> None:
    """Point each closed descriptor among 0, 1 and 2 at ``/dev/null``, and give Python a stream on it.

    Call before anything opens a file. What is written to a stream that was closed is
    discarded, as the one who closed it asked.
    """
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        devnull = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: ``fd`` itself
        if devnull != fd:
            os.dup2(devnull, fd)
            os.close(devnull)
        if getattr(sys, name) is None:
            stream = open(fd, "r" if fd == 0 else "w", encoding="utf-8", errors="backslashreplace",  # noqa: SIM115
                          closefd=False)
            setattr(sys, name, stream)
            setattr(sys, f"__{name}__", stream)


class ReaderlessStream:
    """A text stream whose writes never fail because its reader went away."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if self.reader_gone:
            return len(text)
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._drop_reader()
            return len(text)

    def flush(self) -> None:
        if self.reader_gone:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._drop_reader()

    def _drop_reader(self) -> None:
        self.reader_gone = True
        try:
            fd = self._stream.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass
        try:  # what is left in the buffer now goes to /dev/null, not to a later flush error
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, buffer...
        return getattr(self._stream, name)


def guard(stream: TextIO) -> TextIO:
    """``stream`` wrapped in a :class:`ReaderlessStream` (once)."""
    if isinstance(stream, ReaderlessStream):
        return stream  # type: ignore[return-value]
    return ReaderlessStream(stream)  # type: ignore[return-value]
