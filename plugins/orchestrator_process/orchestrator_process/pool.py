"""A pool of persistent worker processes that survives the death of any one of them.

Why not ``concurrent.futures.ProcessPoolExecutor``: when one of its workers dies (a
segfault, ``os._exit``, the out-of-memory killer) it marks the whole pool broken and
fails every pending future, and it cannot stop one running task. A run needs the
opposite: the step whose worker died fails with the guide's error JSON, the other
steps go on, and a step that overruns its timeout is really stopped.

So each worker here has a pipe of its own, and one monitor thread in the parent
waits on every pipe and every process sentinel at once. It hands queued tasks to
idle workers, collects results, notices a dead worker (fails its task; a new worker
is started when work is waiting) and kills the workers that did not stop in time.
Only the monitor reads results; sends happen under the pool's lock.

The workers the run will need (``prestart``: as many as it can keep busy at once,
up to ``size``) start together when the pool does. While the parent is still
single-threaded then (the pool starts at the run's first process step, usually
before any other thread exists) they are forked from it, as the stdlib's pool does
(:mod:`orchestrator_process.forked`, without importing ``multiprocessing``): a few
milliseconds, and each worker starts with every module the run loaded. Every
other worker (a replacement, or any worker once the parent has threads, where a
plain ``fork`` is unsafe) comes from a ``forkserver`` (``spawn`` where there is
none), which first has to start an interpreter and import orch: ~80 ms before the
first step can start, and one more process to wait for at exit. Beyond those,
workers start as work arrives, up to ``size``, and stay for the rest of the run, so
start-up is paid once per worker, not once per task.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import pickle
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any

from orchestrator_core.model import StepResult, StepTask

from . import forked
from . import output as worker_output
from . import worker as worker_module
from .jobs import Job, WorkerHandle, death_reason, kill_group
from .worker import STOP, WorkerFailure

logger = logging.getLogger("orchestrator.process")

KILL_GRACE_S = 2.0  # between SIGTERM (the step cleans up) and SIGKILL


def _context() -> Any:
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # Imported once in the fork server, so each worker starts with them loaded.
        context.set_forkserver_preload(["__main__", worker_module.__name__])
        return context
    return multiprocessing.get_context("spawn")


def _fork_is_safe() -> bool:
    """Whether workers may be forked from this process now.

    Safe means Linux with this thread the only one, native threads included (counted
    in ``/proc``), and a pidfd to watch a forked worker by.
    """
    if not sys.platform.startswith("linux") or threading.active_count() != 1:
        return False
    try:
        if len(os.listdir("/proc/self/task")) != 1:
            return False
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):  # no pidfd_open: Python or kernel too old
        return False
    return True


class WorkerPool:
    """Runs step tasks on up to ``size`` worker processes; one dying never breaks the others."""

    def __init__(self, size: int, *, grace: float = KILL_GRACE_S, prestart: int = 0):
        self.size = max(1, size)
        self._prestart = min(self.size, max(0, prestart))
        self.grace = grace
        self._mp: Any = None  # the multiprocessing context of the fork server, made when first needed
        self._alive: Any = None  # its parent-alive pipe (reading, writing end), made with it
        self._fork_alive_w = -1  # the writing end of the forked workers' parent-alive pipe
        self._lock = threading.Lock()
        self._queue: deque[Job] = deque()
        self._workers: list[WorkerHandle] = []
        self._closing = False
        self._copy_output = worker_output.wanted()  # workers write through the parent, above the live bar
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        if self._prestart and _fork_is_safe():
            self._fork_workers()  # before the monitor thread exists
        self._monitor = threading.Thread(target=self._watch, name="orch-process-pool", daemon=True)
        self._monitor.start()
        atexit.register(self._kill_all)

    # -- what the executor calls ---------------------------------------------------------------
    def submit(self, task: StepTask) -> Future[StepResult]:
        job = Job(task.step, b"", Future())
        try:
            job.payload = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - e.g. a scriptlet class defined inside a function
            job.fail(f"the step cannot be sent to a worker process: {exc}", {"type": type(exc).__name__})
            return job.future
        with self._lock:
            if self._closing:
                raise RuntimeError("the process pool is shut down")
            self._queue.append(job)
            self._wake()
        return job.future

    def cancel(self, future: Future) -> None:
        """Drop a queued task, or stop the worker running it (SIGTERM, then SIGKILL)."""
        with self._lock:
            for job in self._queue:
                if job.future is future:
                    self._queue.remove(job)
                    future.cancel()
                    return
            for worker in self._workers:
                if worker.job is not None and worker.job.future is future:
                    self._stop(worker, "the step was cancelled and its worker process stopped")
                    self._wake()

    def shutdown(self, *, cancel: bool = False) -> None:
        """Stop every worker and wait until they are gone.

        Without ``cancel``, queued and running tasks finish first; with it, queued tasks
        are dropped and running ones stopped (at most ``grace`` seconds before SIGKILL).
        """
        with self._lock:
            self._closing = True
            if cancel:
                while self._queue:
                    self._queue.popleft().future.cancel()
                for worker in self._workers:
                    if worker.job is not None:
                        self._stop(worker, "the run was stopped and the step's worker process with it")
            self._wake()
        self._monitor.join()
        atexit.unregister(self._kill_all)
        with self._lock:
            if self._wake_w >= 0:
                os.close(self._wake_r)
                os.close(self._wake_w)
                self._wake_r = self._wake_w = -1

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        with self._lock:
            return [w.process.pid for w in self._workers]

    # -- the monitor thread --------------------------------------------------------------------
    def _watch(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - a bug here must fail the steps, not hang the run
            logger.error("the process pool's monitor failed", exc_info=True)
            with self._lock:
                self._closing = True
                while self._queue:
                    self._queue.popleft().fail(f"the process pool failed: {exc!r}")
                for worker in self._workers:
                    if worker.job is not None:
                        worker.job.fail(f"the process pool failed: {exc!r}")
            self._kill_all()
        finally:
            for worker in self._workers:  # left by a failure of the monitor: their output pipes
                if worker.output is not None:
                    worker.output.close()
            # Workers hold the reading ends; when the writing ends close, they stop.
            if self._alive is not None:
                for end in self._alive:
                    end.close()
            if self._fork_alive_w >= 0:
                os.close(self._fork_alive_w)
                self._fork_alive_w = -1

    def _loop(self) -> None:
        with self._lock:
            while len(self._workers) < self._prestart and not self._closing:  # those that could not be forked
                try:
                    self._spawn()
                except Exception:  # noqa: BLE001 - dispatching tries again and fails the step with the reason
                    logger.debug("could not start a worker process ahead of its step", exc_info=True)
                    break
        while True:
            with self._lock:
                self._dispatch()
                if self._closing and not self._queue and not self._workers:
                    break
                waitables: list[Any] = [self._wake_r]
                for worker in self._workers:
                    waitables.append(worker.process.sentinel)
                    if worker.job is not None and worker.readable:
                        waitables.append(worker.conn)
                    if worker.output is not None and worker.output.fd >= 0:
                        waitables.append(worker.output)
                deadlines = [w.kill_at for w in self._workers if w.kill_at is not None and w.kill_at < math.inf]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready = forked.ready(waitables, timeout)
            with self._lock:
                if self._wake_r in ready:
                    self._drain_wake()
                for worker in list(self._workers):
                    if worker.output is not None and worker.output in ready:
                        worker.output.drain()
                    if worker.conn in ready:
                        self._receive(worker)
                    if worker.process.sentinel in ready:
                        self._bury(worker)
                self._kill_overdue()

    def _dispatch(self) -> None:
        while self._queue:
            worker = next((w for w in self._workers if w.idle), None)
            if worker is None:
                if sum(1 for w in self._workers if w.kill_at is None) >= self.size:
                    break
                try:
                    worker = self._spawn()
                except Exception as exc:  # noqa: BLE001 - the step fails, the run goes on
                    self._queue.popleft().fail(f"could not start a worker process: {exc}",
                                               {"type": type(exc).__name__})
                    continue
            job = self._queue.popleft()
            if not job.future.set_running_or_notify_cancel():
                continue
            job.started = time.perf_counter()
            worker.job = job
            try:
                worker.conn.send_bytes(job.payload)
            except OSError:
                worker.readable = False  # dead already: its sentinel reports it and fails the job
        if self._closing and not self._queue:
            for worker in self._workers:
                if worker.idle:
                    self._send_stop(worker)

    def _fork_workers(self) -> None:
        """Fork the workers the run will need from this (still single-threaded) process."""
        alive_r, self._fork_alive_w = os.pipe()
        try:
            while len(self._workers) < self._prestart:
                parent_end, child_end = forked.MessagePipe.pair()
                output, output_w = worker_output.WorkerOutput.pipe() if self._copy_output else (None, None)
                # Closed in the worker: the pool's descriptors, its siblings' and the parent's ends.
                inherited = (self._wake_r, self._wake_w, self._fork_alive_w, *parent_end.fds(),
                             *(fd for w in self._workers for fd in (*w.conn.fds(), w.process.sentinel)),
                             *(o.fd for o in (output, *(w.output for w in self._workers)) if o is not None))
                try:
                    process = forked.fork(worker_module.main, (child_end, forked.MessagePipe(alive_r), self.grace,
                                                               output_w), inherited)
                except Exception:  # noqa: BLE001 - the monitor starts them from the fork server instead
                    logger.debug("could not fork a worker process", exc_info=True)
                    parent_end.close()
                    if output is not None:
                        output.close()
                    return
                finally:
                    child_end.close()
                    if output_w is not None:
                        os.close(output_w)
                self._workers.append(WorkerHandle(process, parent_end, output))
        finally:
            os.close(alive_r)  # the workers have theirs

    def _spawn(self) -> WorkerHandle:
        """Start one worker from the fork server (``spawn`` where there is none)."""
        if self._mp is None:
            self._mp = _context()
            self._alive = self._mp.Pipe(duplex=False)
        parent_end, child_end = self._mp.Pipe()
        output, output_w = None, None
        if self._copy_output:
            from multiprocessing.connection import Connection

            output, fd = worker_output.WorkerOutput.pipe()
            output_w = Connection(fd, readable=False)  # travels to the worker like the pipes' ends
        process = self._mp.Process(target=worker_module.main, args=(child_end, self._alive[0], self.grace, output_w),
                                   name="orch-process-worker")
        try:
            process.start()
        except BaseException:
            parent_end.close()
            if output is not None:
                output.close()
            raise
        finally:
            child_end.close()
            if output_w is not None:
                output_w.close()
        worker = WorkerHandle(process, parent_end, output)
        self._workers.append(worker)
        return worker

    def _receive(self, worker: WorkerHandle) -> None:
        try:
            data = worker.conn.recv_bytes()
        except (EOFError, OSError):
            worker.readable = False
            return
        if worker.output is not None:
            worker.output.drain()  # what the step printed goes above the bar before its result is reported
        job, worker.job = worker.job, None
        if job is None:
            return  # a late answer of a cancelled step
        try:
            message = pickle.loads(data)
        except Exception as exc:  # noqa: BLE001 - e.g. a result class the parent cannot import
            message = WorkerFailure(f"the step's result could not be read: {exc}", {"type": type(exc).__name__})
        if isinstance(message, WorkerFailure):
            job.fail(message.reason, message.details)
        else:
            job.resolve(message)

    def _bury(self, worker: WorkerHandle) -> None:
        worker.process.join(0)
        pid, exitcode = worker.process.pid, worker.process.exitcode
        self._workers.remove(worker)
        kill_group(pid)  # whatever the step started in the worker's group goes with it
        worker.conn.close()
        if worker.output is not None:
            worker.output.close()
        if worker.job is not None:
            reason, details, exit_code = death_reason(exitcode)
            worker.job.fail(reason, {**details, "pid": pid}, exit_code)
        worker.process.close()

    def _stop(self, worker: WorkerHandle, reason: str) -> None:
        """Fail the worker's task with ``reason`` and ask the worker to stop (SIGTERM)."""
        job, worker.job = worker.job, None
        if job is not None:
            job.fail(reason, {"pid": worker.process.pid})
        if worker.kill_at is None:
            worker.kill_at = time.monotonic() + self.grace
            try:
                os.kill(worker.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _send_stop(self, worker: WorkerHandle) -> None:
        worker.kill_at = time.monotonic() + self.grace
        try:
            worker.conn.send_bytes(STOP)
        except OSError:
            pass

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for worker in self._workers:
            if worker.kill_at is not None and now >= worker.kill_at:
                worker.kill_at = math.inf
                kill_group(worker.process.pid)
                worker.process.kill()

    def _wake(self) -> None:
        """Interrupt the monitor's wait (call with the lock held)."""
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except BlockingIOError:
                pass  # the pipe is full of wake-ups already

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _kill_all(self) -> None:
        """Last resort at interpreter exit when ``shutdown`` was never reached."""
        for worker in list(self._workers):
            kill_group(worker.process.pid)
            worker.process.kill()
