"""What the run's own Dask workers print, shown above orch's live progress bar instead of on its line.

A LocalCluster's workers are processes Dask starts with orch's own descriptors, so at a
terminal their text went straight to the screen: glued after the bar's text, then
erased by its next redraw. Dask gives no way to hand a worker other descriptors, but it
runs a *preload* module in each worker as it starts, with the environment it was given.
So while the bar is live (``above_a_live_bar``) and the run starts its own cluster,
:class:`WorkerOutputs` listens on a Unix socket, each worker's preload
(:func:`dask_setup`) connects to it and points its stdout and stderr (fds 1 and 2, line
buffered) there, and a thread copies the whole lines of every connection to
``sys.stderr``, where they go above the bar. Before the runner gets a step's result the
collector reads what the workers wrote until then (``drain``): a step's lines come
before its ``[n/N]`` line, as for a step run inline. Without the bar, and for an outside
scheduler's workers (on other machines, with terminals of their own), nothing changes.
"""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import sys
import tempfile
import threading
from typing import Any

from orchestrator_core.display.above_the_bar import WorkerLines, above_a_live_bar

ENV = "ORCH_DASK_OUTPUT_SOCKET"  # where a worker's preload connects its stdout and stderr
PRELOAD = __name__
READ_SIZE = 65536


def wanted() -> bool:
    """Whether the workers the run starts now should write through orch (a live bar is on its terminal)."""
    return above_a_live_bar(sys.stderr)


def dask_setup(worker: Any) -> None:
    """In a worker, as it starts (Dask's preload hook): stdout and stderr to orch's socket, line by line."""
    path = os.environ.get(ENV)
    if not path:
        return
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return  # orch is gone or not listening: the worker keeps its descriptors
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.dup2(connection.fileno(), 1)
    os.dup2(connection.fileno(), 2)
    connection.close()
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)  # a socket is no terminal: lines go out as printed


class _Connection:
    """One worker's connection, and its lines on their way to ``sys.stderr``."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.lines = WorkerLines()


class WorkerOutputs:
    """The socket the run's workers write to, and the thread that copies their lines to ``sys.stderr``."""

    def __init__(self) -> None:
        self._folder = tempfile.mkdtemp(prefix="orch-dask-")
        self.path = os.path.join(self._folder, "output")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._listener.bind(self.path)
            self._listener.listen()
        except OSError:
            self._listener.close()
            shutil.rmtree(self._folder, ignore_errors=True)
            raise
        self._listener.setblocking(False)
        self._lock = threading.Lock()  # one reader at a time: the thread, or the collector's drain
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._connections: dict[socket.socket, _Connection] = {}
        self._closing = False
        self._thread = threading.Thread(target=self._copy, name="orch-dask-output", daemon=True)
        self._thread.start()

    @classmethod
    def for_run(cls) -> WorkerOutputs | None:
        """A socket for the run's workers; None where none can be made (a ``TMPDIR`` too long for a
        socket's path, say): the workers then write to the terminal as without the bar."""
        try:
            return cls()
        except OSError:
            return None

    def worker_options(self) -> dict[str, Any]:
        """What the LocalCluster passes each worker: the preload, and the socket in its environment."""
        return {"preload": [PRELOAD], "env": {ENV: self.path}}

    def drain(self) -> None:
        """Copy what every worker wrote so far (called before a step's result is handed on)."""
        with self._lock:
            for connection in list(self._connections.values()):
                self._read(connection)

    def close(self) -> None:
        """Stop copying once the workers are gone: the rest, unfinished lines whole, then the socket goes."""
        self._closing = True
        self._wake_w.send(b"x")
        self._thread.join(timeout=5)
        with self._lock:
            for connection in list(self._connections.values()):
                self._read(connection)
                self._drop(connection)
            for sock in (self._listener, self._wake_r, self._wake_w):
                sock.close()
            self._selector.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def _copy(self) -> None:
        while not self._closing:
            events = self._selector.select()
            with self._lock:
                for key, _ in events:
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj is not self._wake_r:
                        connection = self._connections.get(key.fileobj)  # type: ignore[call-overload]
                        if connection is not None:
                            self._read(connection)

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        self._connections[sock] = _Connection(sock)
        self._selector.register(sock, selectors.EVENT_READ)

    def _read(self, connection: _Connection) -> None:
        while True:
            try:
                chunk = connection.sock.recv(READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:  # the worker is gone
                self._drop(connection)
                return
            connection.lines.feed(chunk)

    def _drop(self, connection: _Connection) -> None:
        if self._connections.pop(connection.sock, None) is None:
            return
        self._selector.unregister(connection.sock)
        connection.sock.close()
        connection.lines.end()
