"""The HTTP server: the stdlib ``ThreadingHTTPServer``, made fast on loopback and stoppable.

Why the stdlib server: no dependency, ~8.7k requests/s here once Nagle's algorithm is
off, and a stop within a fraction of a second. The two changes that matter:

* ``TCP_NODELAY`` on every accepted socket. The handler writes the headers and the
  body in two sends; with Nagle on, the second waits for the client's delayed ACK
  (40 ms), which caps a keep-alive client at ~25 requests/s (~360/s overall).
* A stop that leaves nothing behind: the accept loop ends, streams send what was
  journaled and end, idle keep-alive connections are shut for reading (their threads
  wake up and leave), and every handler thread is joined within a deadline.

And bounds (``connections``): at most ``Limits.connections()`` connections are served
at once; one more is answered ``503`` by the refuser and closed.

Why not a server library: the guarantees the server needs (framing every body, a
connection cap, deadlines per request, one poller for every stream) are each a few
lines on top of the stdlib server, with key reads as fast as before within the noise (docs/server.md,
Performance); an asyncio server would hold thousands of idle streams without a thread
each, but would mean a second concurrency model and a dependency for a local tool.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from orchestrator_core.state.listeners import register, unregister
from orchestrator_core.server.connections import Limits, Refuser, refusal

logger = logging.getLogger("orchestrator.server")

ACCEPT_POLL_S = 0.2  # how often the accept loop checks for a stop request
JOIN_DEADLINE_S = 2.0


class OrchHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that tracks its connections and threads so it can stop cleanly."""

    daemon_threads = True
    block_on_close = False  # joined in server_close, with a deadline, by us
    request_queue_size = 512  # a burst of clients connecting at once waits to be accepted

    def __init__(self, address: tuple[str, int], handler: type, app: Any, limits: Limits | None = None):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.limits = limits or Limits()
        self.max_connections = self.limits.connections()
        self._refuser = Refuser(refusal(503, "too_many_connections",
                                        f"the server holds {self.max_connections} connections, its limit; retry later"))
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._handed_over: set[socket.socket] = set()  # event streams: the hub closes them, not their thread
        super().__init__(address, handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sockets.add(sock)
        return sock, address

    @property
    def connection_count(self) -> int:
        with self._lock:
            return len(self._sockets)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection on a thread of its own, or, over the cap, refuse it with a 503."""
        with self._lock:
            over = len(self._sockets) > self.max_connections
            if over:
                self._sockets.discard(request)
        if over:
            logger.warning("refused a connection from %s: %d connections open, the limit", client_address,
                           self.max_connections)
            self._refuser.refuse(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._handler_threads.add(threading.current_thread())
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._handler_threads.discard(threading.current_thread())

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            if request in self._handed_over:
                return
            self._sockets.discard(request)
        super().shutdown_request(request)

    def hand_over(self, sock: socket.socket) -> None:
        """``sock`` outlives its request thread (an event stream): :meth:`release` closes it."""
        with self._lock:
            self._handed_over.add(sock)

    def release(self, sock: socket.socket) -> None:
        """Close a connection that was handed over; it no longer counts against the cap."""
        with self._lock:
            self._handed_over.discard(sock)
            self._sockets.discard(sock)
        super().shutdown_request(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)

    def server_close(self) -> None:
        """Close the listening socket, end every connection, join every handler thread."""
        self.stopping.set()
        super().server_close()
        self._refuser.close()
        self.app.stop_streams()  # they send what was journaled by now, then end
        self._end_connections(socket.SHUT_RD)  # idle keep-alive readers wake up; streams may still write
        if not self._join(time.monotonic() + JOIN_DEADLINE_S):
            self._end_connections(socket.SHUT_RDWR)
            if not self._join(time.monotonic() + JOIN_DEADLINE_S):
                logger.warning("%d server threads did not stop", len(self._handler_threads))
        self.app.close()

    def _end_connections(self, how: int) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(how)
            except OSError:
                pass

    def _join(self, deadline: float) -> bool:
        while True:
            with self._lock:
                threads = list(self._handler_threads)
            if not threads:
                return True
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                with self._lock:
                    return not self._handler_threads


class RunningServer:
    """A server answering on its own thread; :meth:`stop` ends it and everything it started."""

    def __init__(self, server: OrchHTTPServer, listener: Path | None):
        self.server = server
        self.url = server.url
        self._listener = listener  # tells runs in the state directory to journal their steps
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": ACCEPT_POLL_S},
                                        name=f"orch-serve-{server.server_address[1]}", daemon=True)
        self._stopped = False
        self._thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def stop(self) -> None:
        """Stop accepting, end streams and connections, join the threads; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self._listener is not None:
            unregister(self._listener)
        self.server.stopping.set()
        self.server.shutdown()
        self._thread.join()
        self.server.server_close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_server(state_dir: Any, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 limits: Limits | None = None) -> RunningServer:
    """Serve the state store in ``state_dir`` on ``host:port`` (0: a free port) until ``stop()``.

    ``limits``: the connection cap and timeouts (:class:`~.connections.Limits`; its defaults otherwise).

    Raises :class:`~orchestrator_core.errors.UsageError` for a non-loopback host without a
    token, for a token that is not printable ASCII, and for an address that cannot be bound.
    """
    from orchestrator_core.errors import UsageError
    from orchestrator_core.server.access import check_binding, check_token_text, is_loopback
    from orchestrator_core.server.api import Api, RequestHandler

    check_binding(host, token)
    check_token_text(token)
    limits = limits or Limits()
    app = Api(Path(state_dir), token=token, loopback=is_loopback(host), limits=limits)
    try:
        server = OrchHTTPServer((host, port), RequestHandler, app, limits)
    except OSError as exc:
        app.close()
        hint = "; choose another with --port, or --port 0 for a free one" if exc.errno == 98 else ""
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    try:
        listener = register(Path(state_dir), server.server_address[1])
    except OSError as exc:  # a read-only store: no run can record there to be watched live
        logger.warning("cannot announce the server in %s (%s): runs there will not stream their steps",
                       state_dir, exc)
        listener = None
    return RunningServer(server, listener)
