"""The main loop of one worker process: receive a step task, run it, send back its result.

The worker is deliberately small. Everything it needs arrives in the task (params,
the context keys the step may read, the scriptlet class by reference) and the one
harness every executor shares, :func:`~orchestrator_core.run.execution.execute_task`,
does the work. The parent merges the returned delta, so a step behaves here exactly
as it does inline.

How a worker protects the run:

- Its stdout is pointed at stderr before any step runs, so nothing a step (or a
  program it starts) prints can break the one-JSON-line-per-step contract. While
  orch shows a live bar, both are a pipe to the parent, which prints their lines
  above the bar (``output.py``); the step's output is flushed before its result
  is sent, so the parent has it first.
- It leads its own process group, so a Ctrl-C at the terminal reaches only the
  parent, which decides what to stop, and so the parent can kill a worker together
  with whatever a step left in its group.
- SIGTERM raises ``KeyboardInterrupt`` in the step: its ``finally`` blocks and
  ``except KeyboardInterrupt`` handlers run, so a step that started programs of its
  own can stop them; then the worker SIGKILLs its whole group, which ends whatever
  they left running.
- A watchdog thread notices when the parent goes away (its end of a pipe closes)
  and stops the worker, so a killed ``orch`` leaves no worker behind.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from orchestrator_core.run.execution import execute_task

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

STOP = b"stop"


class WorkerFailure:
    """Sent instead of a result when the worker could not load a task or send its result."""

    __slots__ = ("reason", "details")

    def __init__(self, reason: str, details: dict[str, Any] | None = None):
        self.reason = reason
        self.details = details if details is not None else {}


def main(conn: Connection, parent_alive: Connection, grace: float, output: Any = None) -> None:
    """Entry point of a worker process (the ``target`` of its ``Process``, or of ``forked.fork``).

    ``conn`` and ``parent_alive`` are ``multiprocessing`` connections, or the
    :class:`~orchestrator_process.forked.MessagePipe` ends of a forked worker;
    ``output``, when given, the writing end of the pipe to use as stdout and stderr
    (a descriptor, or a ``multiprocessing`` connection holding one).
    """
    global _flush_output
    _isolate(output)
    _flush_output = output is not None
    threading.Thread(target=_watch_parent, args=(parent_alive, grace), name="orch-parent-watch", daemon=True).start()
    try:
        _serve(conn)
    except KeyboardInterrupt:
        # Stopped (SIGTERM) by the parent, or by the watchdog once the parent was gone: the
        # step's own cleanup has run; what it started and left in this group goes now, as
        # a parent that is gone cannot do it.
        _kill_own_group()


def _isolate(output: Any) -> None:
    try:
        os.setpgrp()
    except OSError:  # pragma: no cover - already a group or session leader
        pass
    sys.stdout.flush()
    if output is not None:
        sys.stderr.flush()
        fd = output if isinstance(output, int) else output.fileno()
        os.dup2(fd, 2)
        if isinstance(output, int):
            os.close(fd)
        else:
            output.close()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


_stopping = False  # set once the parent (or the watchdog) asked this worker to stop
_flush_output = False  # the output is a pipe to the parent: flushed before each result


def _interrupt(signum: int, frame: Any) -> None:
    global _stopping
    _stopping = True
    raise KeyboardInterrupt


def _serve(conn: Connection) -> None:
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return  # the parent closed the pipe
        if data == STOP:
            return
        try:
            task = pickle.loads(data)
        except Exception as exc:  # noqa: BLE001 - an unimportable scriptlet fails its step, not the worker
            _reply(conn, WorkerFailure(f"the step could not be loaded in the worker process: {exc}",
                                       {"type": type(exc).__name__}))
            continue
        try:
            result = execute_task(task)
        except KeyboardInterrupt:
            if _stopping:
                raise
            # Not the parent's stop: a SIGINT sent to this worker, or raised by the step. The
            # step fails saying so, and the worker serves on (dying here would read as a kill
            # from outside, the out-of-memory killer's way).
            result = WorkerFailure("the step was interrupted in its worker process (KeyboardInterrupt: a SIGINT "
                                   "sent to the worker, or raised by the step)", {"type": "KeyboardInterrupt"})
        _reply(conn, result)


def _reply(conn: Connection, message: Any) -> None:
    if _flush_output:
        try:
            sys.stderr.flush()  # sys.stdout is sys.stderr here
        except (OSError, ValueError):
            pass
    try:
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - say why instead of dying
        payload = pickle.dumps(WorkerFailure(f"the step's result could not be sent back: {exc}",
                                             {"type": type(exc).__name__}))
    conn.send_bytes(payload)


def _watch_parent(parent_alive: Connection, grace: float) -> None:
    """Stop this worker, and its process group, once the parent is gone."""
    try:
        parent_alive.recv_bytes()
    except (EOFError, OSError):
        pass
    os.kill(os.getpid(), signal.SIGTERM)  # let the running step clean up first
    time.sleep(grace)  # the main thread ends the group when the step stops; else, after the grace:
    _kill_own_group()
    os._exit(1)


def _kill_own_group() -> None:
    """SIGKILL this worker's process group: the worker and whatever its steps started."""
    if os.getpgrp() == os.getpid():  # never the parent's group
        os.killpg(os.getpgrp(), signal.SIGKILL)
