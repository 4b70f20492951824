"""Run events as Server-Sent Events (``GET /api/events``), all streams served by one thread.

Runs journal their events in the state store (the built-in ``state`` plugin writes each
``orch.event/1`` record in the transaction of what it reports); the server tails that
journal by id. So a run in another process needs to know nothing about servers, any
number of servers can follow one store, and a client that lost its connection resumes
exactly where it was (``Last-Event-ID`` is the journal id).

A stream's request is checked and answered with its headers by a request thread like
any other; then its socket is handed to the server's :class:`EventHub` and the thread
ends. The hub's one thread polls the journal every ``POLL_S`` (while any stream is
open) and writes what is new to every stream, without blocking: a slow client's
events wait in its own buffer. It watches the sockets too, so a client that goes away
is closed at once. So 600 open dashboards cost one thread, one query every 20 ms and
one socket each, where a thread per stream polling on its own cost 600 of each. A
stream that starts further back than the hub has read (a replay from ``after=0``)
is first read forward from the store, a batch at a time, by the same thread.

One thread serves every stream, so nothing may end it but a stop: a journal row that is
not an event (its data not a JSON object: another program wrote the store) is skipped and
logged once, and an unexpected error in a round is logged and the next round goes on, with
every stream still open.
"""

from __future__ import annotations

import json
import logging
import queue
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from orchestrator_core.server.access import HttpError
from orchestrator_core.server.pool import StorePool

logger = logging.getLogger("orchestrator.server")

POLL_S = 0.02
HEARTBEAT_S = 15.0
BATCH = 500
RETRY_MS = 1000
MAX_PENDING_BYTES = 4 * 1024 * 1024  # a client this far behind is dropped (it reconnects from its last id)
FINAL_FLUSH_S = 1.0  # at stop, how long the last events may take to be sent
MAX_LOGGED = 100  # distinct skipped rows and errors logged, at most (a journal of bad rows must not flood the log)


@dataclass(eq=False)
class Stream:
    """One client's stream: where it is in the journal, and what is waiting to be sent to it."""

    sock: socket.socket
    after: int
    run_id: str | None
    release: Callable[[socket.socket], None]  # gives the socket back to the server, which closes it
    live: bool = False  # caught up with the hub: new events come from its polls
    pending: bytearray = field(default_factory=bytearray)
    stalled_since: float | None = None  # when a send last could not take everything
    quiet_since: float = field(default_factory=time.monotonic)

    def queue(self, events: list[tuple[int, str, str | None]]) -> None:
        """Queue ``(id, data, run)`` events (as :meth:`EventHub._readable` gives them) not sent yet."""
        for event_id, data, _run in events:
            if event_id > self.after:
                self.pending += f"id: {event_id}\ndata: {data}\n\n".encode()
                self.after = event_id


class EventHub:
    """The one thread that polls a server's event journal and writes to every stream."""

    def __init__(self, pool: StorePool, *, poll_s: float = POLL_S, send_timeout: float = 30.0):
        self._pool = pool
        self._poll_s = poll_s
        self._send_timeout = send_timeout
        self._arriving: queue.SimpleQueue[Stream] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._count = 0  # streams arriving or open
        self._thread: threading.Thread | None = None
        self._wakeup = threading.Event()  # a stream arrived, or the server stops
        self._stopping = False
        self._selector: selectors.BaseSelector | None = None
        self._streams: dict[socket.socket, Stream] = {}
        self._cursor: int | None = None  # the journal id the hub has read up to (None: not read yet)
        self._next_poll = self._next_check = 0.0
        self._logged: set[int | str] = set()  # journal ids skipped and errors, each logged once

    @property
    def streams(self) -> int:
        with self._lock:
            return self._count

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None

    def reserve(self, limit: int) -> bool:
        """Count one more stream, unless ``limit`` are open or arriving; :meth:`add` or :meth:`cancel` follows."""
        with self._lock:
            if self._count >= limit:
                return False
            self._count += 1
            return True

    def cancel(self) -> None:
        """A reserved stream that never started."""
        with self._lock:
            self._count -= 1

    def add(self, sock: socket.socket, *, after: int, run_id: str | None,
            release: Callable[[socket.socket], None]) -> None:
        """Take over ``sock`` (reserved, its headers sent): stream events above ``after`` until it or the server ends."""
        sock.setblocking(False)
        with self._lock:
            if self._stopping:
                self._count -= 1
                release(sock)
                return
            self._arriving.put(Stream(sock, after, run_id, release))
            self._wakeup.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="orch-serve-events", daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Stop: the streams get what was journaled by now (within ``FINAL_FLUSH_S``), then end."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wakeup.set()
        if thread is not None:
            thread.join(FINAL_FLUSH_S + 5.0)

    # -- the hub's thread ------------------------------------------------------------------
    def _run(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._cursor = None
        self._next_poll = self._next_check = time.monotonic()
        try:
            while True:
                try:
                    if self._round():
                        break
                except Exception as exc:  # noqa: BLE001 - a bug must not end every stream
                    self._log_once(f"{type(exc).__name__}: {exc}", logging.ERROR,
                                   "event streams: unexpected error (the streams stay open): %s: %s",
                                   type(exc).__name__, exc, exc_info=True)
                    self._drop_closed()  # a socket closed under the hub would fail every round
                    time.sleep(self._poll_s)  # the next round comes no sooner than a poll would
            self._take_arrivals()
            self._poll()
            self._finish()
        finally:
            for stream in list(self._streams.values()):
                self._drop(stream)
            self._selector.close()
            with self._lock:
                self._thread = None

    def _round(self) -> bool:
        """One turn of the hub: take new streams, serve the ready sockets, poll when due; ``True`` at stop."""
        self._take_arrivals()
        with self._lock:
            stopping, idle = self._stopping, self._count == 0
            if idle:
                self._wakeup.clear()
        if stopping:
            return True
        if idle:  # nobody listens: the journal is not followed, the thread sleeps until a stream comes
            self._cursor = None
            self._wakeup.wait()
            return False
        timeout = max(0.0, self._next_poll - time.monotonic())
        for key, events in self._selector.select(timeout):  # type: ignore[union-attr]
            stream = self._streams.get(key.fileobj)  # type: ignore[arg-type]
            if stream is not None:
                self._on_ready(stream, events)
        now = time.monotonic()
        if now >= self._next_poll:
            self._next_poll = now + self._poll_s  # first: a poll that fails is not retried at once
            self._poll()
            self._catch_up()
        if now >= self._next_check:
            self._next_check = now + 1.0
            self._check(now)
        return False

    def _log_once(self, key: int | str, level: int, message: str, *args: Any, exc_info: bool = False) -> None:
        """Log ``message`` unless ``key`` (a journal id, an error) was logged already, or ``MAX_LOGGED`` keys were."""
        if key in self._logged or len(self._logged) >= MAX_LOGGED:
            return
        self._logged.add(key)
        logger.log(level, message, *args, exc_info=exc_info)

    def _drop_closed(self) -> None:
        for stream in [s for s in self._streams.values() if s.sock.fileno() < 0]:
            self._drop(stream)

    def _take_arrivals(self) -> None:
        while True:
            try:
                stream = self._arriving.get_nowait()
            except queue.Empty:
                return
            self._streams[stream.sock] = stream
            self._selector.register(stream.sock, selectors.EVENT_READ)  # type: ignore[union-attr]
            if self._cursor is not None and stream.after >= self._cursor:
                stream.live = True

    def _on_ready(self, stream: Stream, events: int) -> None:
        if events & selectors.EVENT_READ:
            self._drop(stream)  # the client closed, or sent something: a stream takes no requests
        elif events & selectors.EVENT_WRITE:
            self._flush(stream)

    def _poll(self) -> None:
        """Read the journal past the hub's cursor and queue it to the live streams."""
        try:
            with self._pool.store(wait=self._poll_s) as store:  # busy: the streams wait, the next poll tries
                if store is None:
                    return
                if self._cursor is None:
                    self._cursor = store.last_event_id()
                    return
                while True:
                    rows = store.events_after(self._cursor, limit=BATCH)
                    if not rows:
                        return
                    self._cursor = rows[-1][0]
                    self._deliver(rows)
                    if len(rows) < BATCH:
                        return
        except HttpError:
            return  # the store is busy or failing: the next poll tries again

    def _deliver(self, rows: list[tuple[int, str]]) -> None:
        events = self._readable(rows)
        by_run: dict[str | None, list[tuple[int, str, str | None]]] = {}
        for event in events:
            by_run.setdefault(event[2], []).append(event)
        for stream in list(self._streams.values()):
            if stream.live:
                stream.queue(events if stream.run_id is None else by_run.get(stream.run_id, []))
                self._flush(stream)

    def _readable(self, rows: list[tuple[int, str]]) -> list[tuple[int, str, str | None]]:
        """The journal rows a client can read, as ``(id, data, run)``; a row whose data is not a JSON
        object (written by something else than orch) is skipped, and logged the first time it is met."""
        events = []
        for event_id, data in rows:
            try:
                record = json.loads(data)
            except (TypeError, ValueError) as exc:
                record, why = None, f"not JSON ({exc})"
            else:
                why = f"JSON, but not an object ({type(record).__name__})"
            if not isinstance(record, dict):
                self._log_once(event_id, logging.WARNING, "event streams: journal row %d of %s is skipped: its data "
                               "is %s", event_id, self._pool.path, why)
                continue
            if "\n" in data or "\r" in data:  # one event is one data: line
                data = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
            run = record.get("run")
            events.append((event_id, data, run if isinstance(run, str) else None))
        return events

    def _catch_up(self) -> None:
        """Read one batch from the store for each stream that started behind the hub."""
        if self._cursor is None:
            return
        for stream in [s for s in self._streams.values() if not s.live and len(s.pending) < MAX_PENDING_BYTES // 4]:
            try:
                with self._pool.store(wait=self._poll_s) as store:
                    rows = store.events_after(stream.after, run_id=stream.run_id, limit=BATCH) if store else []
            except HttpError:
                return  # the store is busy or failing: the next round tries again
            stream.queue(self._readable(rows))
            if rows:  # past skipped rows too, or a batch of them would be read again at every round
                stream.after = max(stream.after, rows[-1][0])
            if len(rows) < BATCH:  # the query saw everything up to the hub's cursor
                stream.after = max(stream.after, self._cursor)
                stream.live = True
            self._flush(stream)

    def _check(self, now: float) -> None:
        """Heartbeats for quiet streams; drop the clients that stopped reading."""
        for stream in list(self._streams.values()):
            if stream.stalled_since is not None and now - stream.stalled_since > self._send_timeout:
                self._drop(stream)
            elif not stream.pending and now - stream.quiet_since >= HEARTBEAT_S:
                stream.pending += b": keep-alive\n\n"  # proxies and browsers keep an active stream open
                self._flush(stream)

    def _flush(self, stream: Stream) -> None:
        if not stream.pending:
            return
        try:
            sent = stream.sock.send(stream.pending)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._drop(stream)
            return
        del stream.pending[:sent]
        if sent:
            stream.quiet_since = time.monotonic()
        if len(stream.pending) > MAX_PENDING_BYTES:
            self._drop(stream)
            return
        if stream.pending:
            stream.stalled_since = stream.stalled_since or time.monotonic()
        else:
            stream.stalled_since = None
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if stream.pending else 0)
        self._selector.modify(stream.sock, want)  # type: ignore[union-attr]

    def _finish(self) -> None:
        """At stop: send what is queued, within ``FINAL_FLUSH_S``, then end every stream."""
        deadline = time.monotonic() + FINAL_FLUSH_S
        while any(s.pending for s in self._streams.values()) and time.monotonic() < deadline:
            for key, events in self._selector.select(0.05):  # type: ignore[union-attr]
                stream = self._streams.get(key.fileobj)  # type: ignore[arg-type]
                if stream is not None:
                    self._on_ready(stream, events)

    def _drop(self, stream: Stream) -> None:
        if self._streams.pop(stream.sock, None) is None:
            return
        try:
            self._selector.unregister(stream.sock)  # type: ignore[union-attr]
        except (KeyError, ValueError):
            pass
        with self._lock:
            self._count -= 1
        stream.release(stream.sock)


def send_events(request: Any, hub: EventHub, *, after: int, run_id: str | None, limit: int) -> None:
    """Answer ``GET /api/events`` with the stream's headers, then hand the connection to ``hub``.

    Each event is ``id: <journal id>`` and ``data: <the orch.event/1 record>``. When the
    server stops, the events already journaled are sent before the stream ends. With
    ``limit`` streams open already, the answer is a 503 instead.
    """
    if not hub.reserve(limit):
        raise HttpError(503, "too_many_streams", f"the server holds {limit} event streams, its limit; retry later")
    handed = False
    try:
        request.close_connection = True  # the stream has no length: it ends with the connection
        request.send_response(200)
        request.send_header("Content-Type", "text/event-stream; charset=utf-8")
        request.send_header("Cache-Control", "no-store")
        request.send_header("X-Accel-Buffering", "no")
        request.end_headers()
        if request.command == "HEAD":
            return
        request.wfile.write(f"retry: {RETRY_MS}\n: stream of run events after id {after}\n\n".encode())
        request.server.hand_over(request.connection)
        handed = True
        hub.add(request.connection, after=after, run_id=run_id, release=request.server.release)
    finally:
        if not handed:
            hub.cancel()
