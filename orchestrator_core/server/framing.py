"""Where one request ends and the next begins, whatever the server answers.

On a keep-alive connection the bytes after a request's head are its body, then the
next request. A server that answers without reading the body (a 404, a refused
``Host``, a ``GET`` that happens to carry one) would parse that body as the next
request: a web page could then send a ``POST`` whose body is a complete ``PUT`` of
its choosing, and the server would run it without any of the checks the outer
request failed. So every request's body is accounted for before the answer: read by
the view that wants it, else read and dropped (up to :data:`DRAIN_LIMIT_BYTES`), else
the connection is closed after the answer. A body the server cannot delimit
(chunked, two ``Content-Length``\\ s, a malformed one) always closes the connection.
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO

from orchestrator_core.server.access import MAX_BODY_BYTES, HttpError

DRAIN_LIMIT_BYTES = 16 * MAX_BODY_BYTES  # a body up to this is read and dropped rather than the connection closed
LENGTH = re.compile(r"[0-9]{1,18}")


class RequestBody:
    """The body of one request, as its headers frame it; read once, or discarded."""

    def __init__(self, rfile: BinaryIO, headers: Any):
        self._rfile = rfile
        self.length = 0
        self.error: HttpError | None = None  # the body cannot be delimited: the connection must close
        lengths = headers.get_all("Content-Length") or []
        if headers.get("Transfer-Encoding") is not None:
            self.error = HttpError(411, "length_required",
                                   "send the body with a Content-Length (no chunked encoding)", close=True)
        elif len(lengths) > 1:
            self.error = HttpError(400, "bad_length", "more than one Content-Length header", close=True)
        elif lengths and not LENGTH.fullmatch(lengths[0].strip()):
            self.error = HttpError(400, "bad_length", f"Content-Length {lengths[0]!r} is not a length", close=True)
        elif lengths:
            self.length = int(lengths[0])
        self.declared = bool(lengths)
        self.left = self.length  # bytes of the body still in the connection

    @property
    def reusable(self) -> bool:
        """Whether the next bytes on the connection are the next request's."""
        return self.error is None and self.left == 0

    def read(self, limit: int = MAX_BODY_BYTES) -> bytes:
        """The whole body (a 4xx when it cannot be framed or is over ``limit``)."""
        if self.error is not None:
            raise self.error
        if not self.declared:
            raise HttpError(411, "length_required", "a write needs a Content-Length and a JSON body", close=True)
        if self.length > limit:
            self.discard()  # a client still sending would miss the answer if the connection closed now
            raise HttpError(413, "too_large", f"the body is {self.length} bytes; the limit is {limit}", close=True)
        data = self._read(self.left)
        if len(data) < self.length:
            raise HttpError(400, "incomplete_body", "the connection ended inside the body", close=True)
        return data

    def discard(self) -> bool:
        """Read and drop what is left of the body, if it is small enough; whether the connection is reusable."""
        if self.error is None and 0 < self.left <= DRAIN_LIMIT_BYTES:
            while self.left > 0:
                if not self._read(min(self.left, 65536)):
                    break
        return self.reusable

    def _read(self, count: int) -> bytes:
        data = self._rfile.read(count)
        self.left -= len(data)
        return data
