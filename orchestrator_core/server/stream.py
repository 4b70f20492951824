"""Run events as Server-Sent Events (``GET /api/events``).

Runs journal their events in the state store (the built-in ``state`` plugin writes each
``orch.event/1`` record in the transaction of what it reports); the stream tails that
journal by id with a short poll. So a run in another process needs to know nothing
about servers, any number of servers can follow one store, and a client that lost its
connection resumes exactly where it was (``Last-Event-ID`` is the journal id). The
cost is the poll: an event reaches the client at most ``POLL_S`` after it is committed.
"""

from __future__ import annotations

import time
from typing import Any

from .access import HttpError
from .pool import StorePool

POLL_S = 0.02
HEARTBEAT_S = 15.0
BATCH = 500
RETRY_MS = 1000


def send_events(request: Any, pool: StorePool, *, after: int, run_id: str | None) -> None:
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
    out = request.wfile
    stopping = request.server.stopping
    out.write(f"retry: {RETRY_MS}\n: stream of run events after id {after}\n\n".encode())
    out.flush()
    quiet_since = time.monotonic()
    while True:
        final = stopping.is_set()  # read before the poll: what was journaled by now is sent
        try:
            with pool.store() as store:
                rows = store.events_after(after, run_id=run_id, limit=BATCH) if store is not None else []
        except HttpError:
            return  # the store failed: end the stream, the client reconnects from its last id
        if rows:
            out.write("".join(f"id: {event_id}\ndata: {data}\n\n" for event_id, data in rows).encode())
            out.flush()
            after = rows[-1][0]
            quiet_since = time.monotonic()
            if len(rows) == BATCH:
                continue
        elif time.monotonic() - quiet_since >= HEARTBEAT_S:
            out.write(b": keep-alive\n\n")  # proxies and browsers keep an active stream open
            out.flush()
            quiet_since = time.monotonic()
        if final:
            return
        stopping.wait(POLL_S)
