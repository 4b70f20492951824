"""How many connections, and for how long: the limits that keep a server's sockets, threads and time bounded.

The threading server gives each connection a thread and, by itself, bounds nothing:
a socket timeout is per ``recv``, so a client sending a byte every 20 s holds its
thread forever, and connections are accepted until the process runs out of file
descriptors (then nothing answers, ``/healthz`` included). Here:

* :class:`Limits` says how many connections at once (by default what the file
  descriptor limit leaves room for), how long a connection may sit idle between
  requests, how long a request may take to arrive once it started, and how long one
  answer may take to be sent.
* :class:`TimedSocket` is the connection's byte stream with those deadlines: each
  ``recv``/``send`` is given the time left, not a fresh timeout.
* :class:`Refuser` answers the connections over the cap with a ``503`` on one thread
  of its own, after reading what they sent (so the answer is not lost to a reset).
"""

from __future__ import annotations

import io
import json
import resource
import selectors
import socket
import threading
import time
from dataclasses import dataclass

DEFAULT_MAX_CONNECTIONS = 1000
FD_RESERVE = 128  # descriptors kept for the store's connections (3 each), logs, the listening socket...
STREAM_RESERVE = 16  # connections a full set of event streams leaves to other requests
REFUSAL_WAIT_S = 1.0  # how long a refused client is given to send its request before the 503
MAX_REFUSING = 64  # refused connections waiting for their 503 at once; beyond, they are closed outright


@dataclass(frozen=True)
class Limits:
    """The bounds of one server; ``0`` connections means "as many as the descriptor limit allows"."""

    max_connections: int = 0
    idle_timeout: float = 60.0  # an open connection with no request in progress
    request_timeout: float = 30.0  # from the first byte of a request to its last (line, headers, body)
    send_timeout: float = 30.0  # one answer (or one batch of events) to be taken by the client

    def connections(self) -> int:
        """The connection cap: the configured one, else what ``RLIMIT_NOFILE`` leaves room for."""
        if self.max_connections > 0:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return DEFAULT_MAX_CONNECTIONS
        return max(8, min(DEFAULT_MAX_CONNECTIONS, soft - FD_RESERVE))

    def streams(self) -> int:
        """Event streams at once: fewer than connections, so streams never starve plain requests."""
        total = self.connections()
        return max(1, total - min(STREAM_RESERVE, total // 2))


class RequestTimeout(Exception):
    """A request did not arrive within the limit; ``started`` says whether any of it did."""

    def __init__(self, started: bool):
        super().__init__("the request did not arrive in time" if started else "the connection was idle too long")
        self.started = started


class SendTimeout(Exception):
    """The client did not take an answer within the limit."""


class TimedSocket(io.RawIOBase):
    """A connection's bytes, read and written against deadlines rather than per-call timeouts.

    :meth:`expect_request` starts the idle deadline; the first byte received then
    starts the request deadline. Each write must be taken within ``send_timeout``.
    """

    def __init__(self, sock: socket.socket, limits: Limits):
        super().__init__()
        self._sock = sock
        self._limits = limits
        self._deadline = time.monotonic() + limits.idle_timeout
        self._waiting = True  # no byte of the current request received yet

    def expect_request(self) -> None:
        self._deadline = time.monotonic() + self._limits.idle_timeout
        self._waiting = True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise RequestTimeout(not self._waiting)
        self._sock.settimeout(left)
        try:
            count = self._sock.recv_into(buffer)
        except TimeoutError:
            raise RequestTimeout(not self._waiting) from None
        if count and self._waiting:
            self._waiting = False
            self._deadline = time.monotonic() + self._limits.request_timeout
        return count

    def write(self, data) -> int:  # type: ignore[override]
        self._sock.settimeout(self._limits.send_timeout)  # sendall's timeout bounds the whole call
        try:
            self._sock.sendall(data)
        except TimeoutError:
            raise SendTimeout("the client did not read the answer in time") from None
        return len(data)


def refusal(status: int, code: str, message: str) -> bytes:
    """A complete HTTP answer that closes the connection, for use outside a request handler."""
    body = json.dumps({"error": code, "message": message, "status": status}, separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {status} {'Service Unavailable' if status == 503 else 'Error'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nCache-Control: no-store\r\n"
            "Retry-After: 1\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class Refuser:
    """Answers connections over the cap with a 503, on one thread, without a thread per connection.

    A refused client is given :data:`REFUSAL_WAIT_S` to send its request; what it sent is
    read and dropped before the answer, so closing does not reset the connection under it.
    """

    def __init__(self, answer: bytes):
        self._answer = answer
        self._selector = selectors.DefaultSelector()
        self._deadlines: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def refuse(self, sock: socket.socket) -> None:
        with self._lock:
            if self._closed or len(self._deadlines) >= MAX_REFUSING:
                sock.close()
                return
            sock.setblocking(False)
            self._deadlines[sock] = time.monotonic() + REFUSAL_WAIT_S
            self._selector.register(sock, selectors.EVENT_READ)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="orch-serve-refuser", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            ready = [key.fileobj for key, _ in self._selector.select(timeout=0.1)]
            now = time.monotonic()
            with self._lock:
                due = [s for s, deadline in self._deadlines.items() if deadline <= now or s in ready or self._closed]
                for sock in due:
                    del self._deadlines[sock]
                    self._selector.unregister(sock)
                if not self._deadlines and not due:
                    self._thread = None
                    return
            for sock in due:
                self._answer_and_close(sock)  # type: ignore[arg-type]

    def _answer_and_close(self, sock: socket.socket) -> None:
        try:
            try:
                sock.recv(65536)
            except BlockingIOError:
                pass
            sock.send(self._answer)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            sock.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join(2.0)
        self._selector.close()
