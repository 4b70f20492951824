"""Run events as Server-Sent Events (``GET /api/events``), from one shared poller of the journal.

Runs journal their events in the state store (the built-in ``state`` plugin writes each
``orch.event/1`` record in the transaction of what it reports); the server tails that
journal by id. So a run in another process needs to know nothing about servers, any
number of servers can follow one store, and a client that lost its connection resumes
exactly where it was (``Last-Event-ID`` is the journal id).

One :class:`EventHub` per server polls the journal every ``POLL_S`` while at least one
stream is open, and keeps the recent events in memory; every stream's thread waits on
it and sends what is new. So 200 idle dashboards cost one query every 20 ms, not 200. A
stream that starts further back than the hub's memory (a replay from ``after=0``, or a
client that fell behind) reads its way forward from the store on its own first. While
idle, a stream's thread wakes every ``CHECK_S`` to see whether its client is still
there, so the thread of a client that went away ends within about that.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import socket
import threading
import time
from typing import Any, Iterator

from .access import HttpError
from .pool import StorePool

POLL_S = 0.02
CHECK_S = 1.0
HEARTBEAT_S = 15.0
BATCH = 500
KEEP = 2000  # events the hub holds for its streams
RETRY_MS = 1000

Row = tuple[int, str]


class EventHub:
    """The one poller of a server's event journal, and the recent events it has seen."""

    def __init__(self, pool: StorePool, *, poll_s: float = POLL_S):
        self._pool = pool
        self._poll_s = poll_s
        self._changed = threading.Condition()
        self._ids: list[int] = []  # the events held, oldest first, with their run and record
        self._runs: list[str | None] = []
        self._data: list[str] = []
        self._floor: int | None = None  # every event above this id is held (None: not polled yet)
        self._streams = 0
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = False
        self.closed = False

    @contextlib.contextmanager
    def subscription(self) -> Iterator[None]:
        """Keep the poller running for the duration of one stream."""
        with self._changed:
            self._streams += 1
            if self._thread is None and not self._stopping:
                self._floor = None
                self._ids, self._runs, self._data = [], [], []
                self._wake.clear()
                self._thread = threading.Thread(target=self._run, name="orch-serve-events", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._changed:
                self._streams -= 1

    @property
    def streams(self) -> int:
        with self._changed:
            return self._streams

    @property
    def polling(self) -> bool:
        with self._changed:
            return self._thread is not None

    def wait(self, after: int, run_id: str | None, timeout: float) -> tuple[list[Row] | None, int, bool]:
        """``(rows, cursor, closed)``: the held events above ``after`` (of ``run_id``), at most ``BATCH``.

        Waits up to ``timeout`` for some. ``rows`` is ``None`` when ``after`` is older than
        what the hub holds (read the store up to ``cursor`` first). ``cursor`` is where the
        caller continues; ``closed`` that the server stops and nothing more will come.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if self._floor is not None and after < self._floor:
                    return None, self._floor, False
                if self._floor is not None:
                    start = bisect.bisect_right(self._ids, after)
                    end = min(len(self._ids), start + BATCH)
                    rows = [(self._ids[i], self._data[i]) for i in range(start, end)
                            if run_id is None or self._runs[i] == run_id]
                    cursor = self._ids[end - 1] if end > start else after
                    if rows or cursor != after or self.closed:
                        return rows, cursor, self.closed and end == len(self._ids)
                elif self.closed:
                    return [], after, True
                left = deadline - time.monotonic()
                if left <= 0 or not self._changed.wait(left):
                    return [], after, False

    def close(self) -> None:
        """Stop polling; poll once more so streams send what was journaled by now, then end them."""
        with self._changed:
            self._stopping = True
            thread = self._thread
            self._wake.set()
        if thread is not None:
            thread.join(5.0)
            self._poll()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._streams == 0 or self._wake.is_set():
                    self._thread = None
                    return
            self._poll()
            self._wake.wait(self._poll_s)

    def _poll(self) -> None:
        try:
            with self._pool.store() as store:
                if store is None:
                    return
                if self._floor is None:
                    with self._changed:
                        self._floor = store.last_event_id()
                        self._changed.notify_all()
                    return
                while True:
                    rows = store.events_after(self._ids[-1] if self._ids else self._floor, limit=BATCH)
                    if rows:
                        self._hold(rows)
                    if len(rows) < BATCH:
                        return
        except HttpError:
            return  # the store is busy or failing: the next poll tries again

    def _hold(self, rows: list[Row]) -> None:
        runs = [json.loads(data).get("run") for _, data in rows]
        with self._changed:
            self._ids.extend(event_id for event_id, _ in rows)
            self._runs.extend(runs)
            self._data.extend(data for _, data in rows)
            if len(self._ids) > 2 * KEEP:
                self._floor = self._ids[-KEEP - 1]
                del self._ids[:-KEEP], self._runs[:-KEEP], self._data[:-KEEP]
            self._changed.notify_all()


def send_events(request: Any, hub: EventHub, pool: StorePool, *, after: int, run_id: str | None) -> None:
    """Stream events with an id above ``after`` (of ``run_id`` only, when given) until the server stops.

    Each event is ``id: <journal id>`` and ``data: <the orch.event/1 record>``. When the
    server stops, the events already journaled are sent before the stream ends.
    """
    request.close_connection = True  # the stream has no length: it ends with the connection
    request.send_response(200)
    request.send_header("Content-Type", "text/event-stream; charset=utf-8")
    request.send_header("Cache-Control", "no-store")
    request.send_header("X-Accel-Buffering", "no")
    request.end_headers()
    if request.command == "HEAD":
        return
    out = request.wfile
    out.write(f"retry: {RETRY_MS}\n: stream of run events after id {after}\n\n".encode())
    quiet_since = time.monotonic()
    with hub.subscription():
        while True:
            rows, cursor, closed = hub.wait(after, run_id, CHECK_S)
            if rows is None:
                try:
                    with pool.store() as store:
                        rows = store.events_after(after, run_id=run_id, limit=BATCH) if store is not None else []
                except HttpError:
                    return  # the store failed: end the stream, the client reconnects from its last id
                cursor = rows[-1][0] if len(rows) == BATCH else max(cursor, rows[-1][0] if rows else after)
            if rows:
                out.write("".join(f"id: {event_id}\ndata: {data}\n\n" for event_id, data in rows).encode())
                quiet_since = time.monotonic()
            moved, after = bool(rows) or cursor != after, cursor
            if closed:
                return
            if moved:
                continue
            if time.monotonic() - quiet_since >= HEARTBEAT_S:
                out.write(b": keep-alive\n\n")  # proxies and browsers keep an active stream open
                quiet_since = time.monotonic()
            elif _gone(request.connection) and not hub.closed:
                return


def _gone(sock: socket.socket) -> bool:
    """Whether the client closed its end (a stream is never sent a request; only its end shows)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
