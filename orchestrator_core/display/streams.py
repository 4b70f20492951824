"""Standard streams that outlive their reader, fail loudly on a full disk, and exist at all.

``orch run R 2>&1 | head -2`` closes the pipe behind stderr after two lines, while
the run still has steps to run. A write to a closed pipe raises ``BrokenPipeError``
wherever it happens (the progress display, a log record, a scriptlet's ``print``),
and that would stop the run half-way. Progress and logs are for a reader; when the
reader is gone they have nowhere to go, and the run must go on and be recorded as
usual. :class:`ReaderlessStream` wraps a text stream so that, on the first broken
pipe, its file descriptor is pointed at ``/dev/null`` (child processes started
afterwards inherit a harmless descriptor too) and every later write is dropped.

Any other failure to write stdout (a full disk: ``orch runs list > /dev/full``) means
the output the user asked for is lost: :class:`CheckedOutput` turns it into an
:class:`~orchestrator_core.errors.OutputError`, one line on stderr and exit status 1,
where Python would print a traceback (or, at exit, "Exception ignored" and status 120).

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

from orchestrator_core.errors import OutputError


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


def discard_buffered(stream: Any) -> None:
    """Point ``stream``'s descriptor at ``/dev/null`` and let what its buffer holds go there.

    Once a write failed, the text still buffered would be written again by the next
    flush (at the latest when Python exits, and fail there); this drops it instead.
    """
    try:
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    try:
        stream.flush()
    except (OSError, ValueError):
        pass


class WrappedStream:
    """A text stream seen through a wrapper: what the wrapper does not define is the stream's own."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, buffer...
        return getattr(self.stream, name)

    @classmethod
    def around(cls, stream: TextIO) -> TextIO:
        """``stream`` wrapped in this class (once)."""
        return stream if isinstance(stream, cls) else cls(stream)  # type: ignore[return-value]


class ReaderlessStream(WrappedStream):
    """A text stream whose writes never fail because its reader went away."""

    def __init__(self, stream: TextIO):
        super().__init__(stream)
        self.reader_gone = False

    def write(self, text: str) -> int:
        if self.reader_gone:
            return len(text)
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._drop_reader()
            return len(text)

    def flush(self) -> None:
        if self.reader_gone:
            return
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._drop_reader()

    def _drop_reader(self) -> None:
        self.reader_gone = True
        discard_buffered(self.stream)


guard = ReaderlessStream.around


class CheckedOutput(WrappedStream):
    """stdout of a command: a write that fails, but for a closed pipe, raises :class:`OutputError`.

    Once one failed, every later write raises it again, and :func:`check_written`
    raises it at the end of the command: a caller that swallowed it (click probes a
    stream with an empty write) cannot make the output look written. A later flush
    does nothing (what was buffered went to ``/dev/null``), so Python's own flush at
    exit stays quiet. A closed pipe (``BrokenPipeError``) is passed on as it is: click
    ends a listing quietly then, and ``orch run`` goes on without its reader.
    """

    def __init__(self, stream: TextIO):
        super().__init__(stream)
        self.failure: str | None = None  # why the stream failed, once it did

    def write(self, text: str) -> int:
        if self.failure is None:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                raise
            except OSError as exc:
                self._fail(exc)
        raise OutputError(self.failure)

    def flush(self) -> None:
        if self.failure is not None:
            return
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            self._fail(exc)
            raise OutputError(self.failure) from None

    def _fail(self, exc: OSError) -> None:
        self.failure = str(OutputError.writing("stdout", exc))
        discard_buffered(self.stream)


checked = CheckedOutput.around


def check_written(stream: TextIO) -> None:
    """Flush a :class:`CheckedOutput` and raise its :class:`OutputError` if it failed (any other stream: nothing)."""
    if isinstance(stream, CheckedOutput):
        stream.flush()
        if stream.failure is not None:
            raise OutputError(stream.failure)


def unchecked(stream: TextIO) -> TextIO:
    """The stream a :class:`CheckedOutput` wraps (``stream`` itself otherwise)."""
    return stream.stream if isinstance(stream, CheckedOutput) else stream  # type: ignore[return-value]
