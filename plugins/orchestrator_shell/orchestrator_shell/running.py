"""Running one script: argv (no shell), its stderr streamed live, its stdout collected.

The script is executed directly (``subprocess.Popen`` with an argument list), so no
shell parses its arguments and a param can never become part of a command line.
Its stderr goes through to orch's stderr as it comes, each line prefixed with the
step name, and its last lines are kept for the error record; its stdout is collected
for the status line. The wait ends when the script exits, when the step's timeout
passes, or when the runner cancels the step; in the last two cases, and on Ctrl-C,
the script's whole process group is stopped.
"""

from __future__ import annotations

import collections
import logging
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Callable, Mapping, Sequence

from .process_group import ScriptProcess

logger = logging.getLogger("orchestrator.shell")

STDERR_TAIL_LINES = 20
STDERR_LINE_CHARS = 1000
STDOUT_LIMIT = 16 * 1024 * 1024
# How long the pipes may stay open after the script and its group are gone (a
# process that left the group, e.g. with setsid, may still hold them). A reader that is
# only behind (the pipe closed, its text not all read yet) is waited for to the end.
PIPE_CLOSE_WAIT = 2.0

_stderr_lock = threading.Lock()


@dataclass
class ScriptOutcome:
    """How a script run ended, and what it printed."""

    returncode: int
    stdout: bytes = b""
    stdout_truncated: bool = False
    stderr_tail: list[str] = field(default_factory=list)
    timed_out: bool = False
    cancelled: bool = False
    left_behind: int = 0  # processes of its group still running after it exited (stopped)
    cpu_ms: float | None = None
    peak_rss_kb: int | None = None


def run_script(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    label: str,
    timeout: float | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> ScriptOutcome:
    """Run ``argv`` to its end (or its timeout, or cancellation) and describe the outcome.

    Raises ``OSError`` when the script cannot be started at all. On any exception while
    waiting (``KeyboardInterrupt``: Ctrl-C, or SIGTERM in a worker process) the group
    is stopped before the exception goes on.
    """
    script = ScriptProcess.start(
        list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, close_fds=True,
    )
    popen = script.popen
    stdout = _Collector(popen.stdout)  # type: ignore[arg-type]
    stderr = _LineStreamer(popen.stderr, label)  # type: ignore[arg-type]
    outcome = ScriptOutcome(returncode=0)
    try:
        _wait(script, outcome, timeout, cancelled)
    except BaseException:
        script.stop()
        raise
    left_behind = [] if outcome.timed_out or outcome.cancelled else script.left_behind()
    if left_behind:
        outcome.left_behind = len(left_behind)
        logger.warning("step %r: the script left %d process(es) running in its process group; stopping them",
                       label, outcome.left_behind)
        script.stop()
    script.forget()
    if not _read_to_the_end((stdout, stderr)):
        logger.warning("step %r: a process the script started outside its process group still holds "
                       "its output open; not waiting for it", label)
    outcome.returncode = script.returncode if script.returncode is not None else -9
    outcome.stdout, outcome.stdout_truncated = stdout.data(), stdout.truncated
    outcome.stderr_tail = list(stderr.tail)
    if script.usage is not None:
        outcome.cpu_ms = round((script.usage.ru_utime + script.usage.ru_stime) * 1000.0, 3)
        outcome.peak_rss_kb = int(script.usage.ru_maxrss)
    return outcome


def _wait(script: ScriptProcess, outcome: ScriptOutcome, timeout: float | None, cancelled: Callable[[], bool]) -> None:
    """Poll until the script exits, stopping its group at the deadline or on cancellation."""
    deadline = time.monotonic() + timeout if timeout else None
    delay = 0.0005
    while script.poll() is None:
        if cancelled():
            outcome.cancelled = True
            script.stop()
            return
        if deadline is not None and time.monotonic() >= deadline:
            outcome.timed_out = True
            script.stop()
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _read_to_the_end(readers: Sequence[_PipeReader]) -> bool:
    """Wait until each reader has read its pipe to the end; False when a pipe is still held open.

    Once every process that could write a pipe has closed it, its reader only has to
    catch up (it may be slow: each line goes to orch's stderr, a terminal or a pipe
    someone reads slowly), and it is waited for, however long that takes: the error
    record's ``stderr_tail`` is the script's last lines, and every line reaches the user.
    A pipe still open ``PIPE_CLOSE_WAIT`` seconds after the script's group is gone is held
    by a process that left the group, which may live on: not waited for.
    """
    deadline = time.monotonic() + PIPE_CLOSE_WAIT
    for reader in readers:
        while reader.is_alive():
            if not reader.writers_gone() and time.monotonic() >= deadline:
                return False
            reader.join(0.05)
        reader.pipe.close()
    return True


class _PipeReader(threading.Thread):
    """A thread reading one of the script's pipes; the pipe is closed by :func:`_read_to_the_end`.

    The reader does not close the pipe at its end itself: :meth:`writers_gone` asks
    about its descriptor while the reader runs, and a descriptor closed meanwhile could
    already name another file.
    """

    def __init__(self, pipe: IO[bytes], name: str):
        super().__init__(name=name, daemon=True)
        self.pipe = pipe

    def writers_gone(self) -> bool:
        """Whether every process that could write the pipe has closed it (what is left is only to read)."""
        poller = select.poll()
        poller.register(self.pipe.fileno(), select.POLLIN)
        return any(events & (select.POLLHUP | select.POLLERR) for _, events in poller.poll(0))


class _Collector(_PipeReader):
    """Reads a pipe to its end, keeping up to ``STDOUT_LIMIT`` bytes."""

    def __init__(self, pipe: IO[bytes]):
        super().__init__(pipe, "orch-shell-stdout")
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False
        self.start()

    def run(self) -> None:
        while chunk := self.pipe.read1(65536):
            if self.size + len(chunk) > STDOUT_LIMIT:
                self.truncated = True
                continue
            self.chunks.append(chunk)
            self.size += len(chunk)

    def data(self) -> bytes:
        return b"".join(self.chunks)


class _LineStreamer(_PipeReader):
    """Copies a pipe line by line to orch's stderr, ``[label] line``, keeping the last lines."""

    def __init__(self, pipe: IO[bytes], label: str):
        super().__init__(pipe, "orch-shell-stderr")
        self.prefix = f"[{label}] "
        self.tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self.start()

    def run(self) -> None:
        for raw in iter(lambda: self.pipe.readline(65536), b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.tail.append(line[:STDERR_LINE_CHARS])
            with _stderr_lock:
                stream = sys.stderr  # looked up each time: captured in tests, redirected by a progress bar
                stream.write(self.prefix + line + "\n")
                stream.flush()
