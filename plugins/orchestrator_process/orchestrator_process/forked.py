"""Workers forked straight from the parent, with no ``multiprocessing`` in the way.

The pool forks the workers a run needs while the parent still has one thread (see
:mod:`orchestrator_process.pool`). For that it needs a process handle, a message
pipe and a way to wait on both, which ``multiprocessing`` would give at the price of
importing it (``multiprocessing.connection`` brings ``tempfile``, ``shutil``,
``random`` and ``subprocess``: ~12 ms on the run's critical path). Here they are:

- :class:`ForkedProcess`: the part of ``multiprocessing.Process`` the pool uses
  (``pid``, ``sentinel``, ``exitcode``, ``join(0)``, ``kill``, ``close``). Its
  sentinel is a pidfd, readable once the worker has ended; the pipe that
  ``multiprocessing``'s ``fork`` gives as sentinel stays open while anything the
  step forked lives on.
- :class:`MessagePipe`: length-prefixed messages over a pair of pipes, with the
  ``send_bytes``/``recv_bytes`` of ``multiprocessing.connection.Connection`` that
  the pool and the worker loop call (``recv_bytes`` raises ``EOFError`` at the end).
- :func:`ready`: which of some pipes and sentinels can be read, as
  ``multiprocessing.connection.wait`` says.
"""

from __future__ import annotations

import math
import os
import select
import signal
import struct
import sys
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct("!Q")  # the length of the message that follows


class MessagePipe:
    """One end of a message channel: reads from ``read_fd``, writes to ``write_fd`` (-1: none)."""

    def __init__(self, read_fd: int, write_fd: int = -1):
        self.read_fd, self.write_fd = read_fd, write_fd

    @classmethod
    def pair(cls) -> tuple[MessagePipe, MessagePipe]:
        """Two ends, each writing what the other reads."""
        a_read, b_write = os.pipe()
        b_read, a_write = os.pipe()
        return cls(a_read, a_write), cls(b_read, b_write)

    def fileno(self) -> int:
        return self.read_fd

    def fds(self) -> tuple[int, ...]:
        return tuple(fd for fd in (self.read_fd, self.write_fd) if fd >= 0)

    def send_bytes(self, data: bytes) -> None:
        self._write(HEADER.pack(len(data)))
        self._write(data)

    def recv_bytes(self) -> bytes:
        (size,) = HEADER.unpack(self._read(HEADER.size))
        return self._read(size)

    def close(self) -> None:
        for fd in self.fds():
            os.close(fd)
        self.read_fd = self.write_fd = -1

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.write_fd, view):]

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = os.read(self.read_fd, size)
            if not chunk:
                raise EOFError("the other end is closed")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)


class ForkedProcess:
    """A worker forked from this process, watched through a pidfd."""

    def __init__(self, pid: int, sentinel: int):
        self.pid = pid
        self.sentinel = sentinel
        self.exitcode: int | None = None

    def join(self, timeout: float | None = None) -> None:
        """Reap the worker if it has ended (``timeout`` 0), or wait until it has."""
        if self.exitcode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG if timeout == 0 else 0)
            if pid:
                self.exitcode = os.waitstatus_to_exitcode(status)

    def kill(self) -> None:
        if self.exitcode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        if self.sentinel >= 0:
            os.close(self.sentinel)
            self.sentinel = -1


def fork(target: Callable[..., Any], args: tuple, inherited: tuple[int, ...]) -> ForkedProcess:
    """Fork a worker that closes the ``inherited`` descriptors, runs ``target(*args)`` and exits.

    Call only while this process has a single thread. The worker leads a process
    group of its own from the start (the parent sets it too, so no Ctrl-C at the
    terminal reaches it in between), reads its stdin from ``/dev/null``, and never
    returns into the parent's code: it ends with ``os._exit``, so nothing of the
    parent's (``atexit`` handlers, open files, the state store) is run or closed there.
    """
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()  # what is buffered is written once, by the parent
        except Exception:  # noqa: BLE001 - None, closed, or a stand-in of a test harness
            pass
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the worker
        _run_child(target, args, inherited)
    try:
        os.setpgid(pid, 0)
    except OSError:
        pass  # it has ended already: its pidfd tells
    try:
        sentinel = os.pidfd_open(pid)
    except OSError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    return ForkedProcess(pid, sentinel)


def _run_child(target: Callable[..., Any], args: tuple, inherited: tuple[int, ...]) -> None:  # pragma: no cover
    code = 1
    try:
        for fd in inherited:
            try:
                os.close(fd)
            except OSError:
                pass
        os.setpgid(0, 0)
        if sys.stdin is not None:  # None: orch started without one, and fd 0 may now be a pipe of ours
            sys.stdin.close()
            sys.stdin = open(os.devnull)  # noqa: SIM115 - the worker's stdin until it exits
        target(*args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - say why on stderr, then exit like any dying worker
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


def ready(objects: list[Any], timeout: float | None) -> set[Any]:
    """Those of ``objects`` (descriptors, or objects with ``fileno()``) that can be read, or have ended."""
    poller = select.poll()
    by_fd: dict[int, Any] = {}
    for obj in objects:
        fd = obj if isinstance(obj, int) else obj.fileno()
        by_fd[fd] = obj
        poller.register(fd, select.POLLIN)
    wait_ms = None if timeout is None else math.ceil(timeout * 1000)
    return {by_fd[fd] for fd, _ in poller.poll(wait_ms)}
