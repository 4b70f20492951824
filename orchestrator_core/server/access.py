"""Who may talk to the server, and how much they may send (the threat model is in docs/server.md).

The server binds to loopback unless told otherwise. Binding anywhere else exposes
the context to the network, so it needs a token, and every request must then carry it:
``Authorization: Bearer TOKEN``, or, for a browser, the cookie that opening the
dashboard once as ``/?token=TOKEN`` sets (reads only: a cookie rides along with
requests a browser makes for other sites' pages, a header never does). On loopback the
``Host`` header must name loopback too, so a web page cannot reach the server through a
DNS name rebound to 127.0.0.1. A write (any method but ``GET``/``HEAD``) is refused
when the browser says another site's page sent it (``Origin``, ``Sec-Fetch-Site``), and
must be ``application/json``, which a page can only send cross-site after asking the
server first (and the server never agrees).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from http.cookies import CookieError, SimpleCookie
from typing import Any

from orchestrator_core.errors import UsageError

MAX_BODY_BYTES = 1024 * 1024
"""The largest request body accepted (a written value with its JSON envelope)."""

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
TOKEN_ENV = "ORCH_TOKEN"
TOKEN_PARAMETER = "token"  # GET /?token=TOKEN: a browser's way in, exchanged for a cookie
SAFE_METHODS = frozenset({"GET", "HEAD"})
SAME_ORIGIN_SITES = frozenset({"same-origin", "none"})  # Sec-Fetch-Site of the server's own page, or typed in


class HttpError(Exception):
    """A request the server refuses: the status, a short code and a message for the client."""

    def __init__(self, status: int, code: str, message: str, *, close: bool = False):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.close = close  # the request body was not read: the connection cannot be reused


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) means this machine only."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token (a :class:`UsageError`, exit 2)."""
    if not is_loopback(host) and not token:
        raise UsageError(
            f"--host {host} is reachable from other machines: give a token with --token or ${TOKEN_ENV} "
            "(clients then send 'Authorization: Bearer TOKEN' with every request), or bind to 127.0.0.1"
        )


def check_token_text(token: str | None) -> None:
    """Refuse a token that some clients could not send as typed (a :class:`UsageError`, exit 2).

    HTTP carries header values as bytes with no declared encoding: curl sends a typed
    ``ä`` as UTF-8, Python's ``http.client`` as Latin-1 (and cannot send ``€`` at all), and
    the server reads them as Latin-1. A token outside printable ASCII would then be accepted
    from some clients and refused from others, and one with a space is cut where the header is
    read. Printable ASCII means the same bytes to every client.
    """
    if not token:
        return
    for position, char in enumerate(token, 1):
        if not "!" <= char <= "~":
            raise UsageError(
                f"--token (or ${TOKEN_ENV}) must be printable ASCII without spaces, since HTTP clients send "
                f"other characters in encodings of their own; character {position} is {char!r}"
            )


def check_host_header(value: str | None, *, loopback: bool) -> None:
    """On a loopback server, the ``Host`` a client named must be loopback too."""
    if not loopback or value is None:
        return
    host = value.rsplit(":", 1)[0] if not value.endswith("]") else value
    if value.startswith("["):
        host = value[1:].split("]", 1)[0]
    if not is_loopback(host):
        raise HttpError(403, "forbidden_host",
                        f"this server listens on loopback only; Host {value!r} is not a loopback name")


def cookie_name(port: int) -> str:
    """The token cookie of the server on ``port`` (cookies are shared by every port of a host)."""
    return f"orch_token_{port}"


def cookie_value(token: str) -> str:
    """What the cookie holds: derived from the token, not the token (which also allows writes)."""
    return hashlib.sha256(f"orch-read-cookie:{token}".encode()).hexdigest()


def check_token(headers: Any, method: str, query_token: str | None, *, token: str | None, port: int) -> bool:
    """With a token configured, the request must carry it; whether it came as ``?token=``.

    Any request may send ``Authorization: Bearer TOKEN``. A ``GET`` or ``HEAD`` may
    instead send the server's cookie, or ``?token=TOKEN`` (then the caller answers with a
    redirect that sets the cookie, so the token leaves the address bar).
    """
    if not token:
        return False
    header = headers.get("Authorization")
    if header:
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise HttpError(401, "unauthorized", "the Authorization header must be 'Bearer TOKEN'")
        _compare(given.strip(), token)
        return False
    if method in SAFE_METHODS:
        if query_token is not None:
            _compare(query_token, token)
            return True
        cookie = _cookie(headers.get("Cookie"), cookie_name(port))
        if cookie is not None:
            _compare(cookie, cookie_value(token))
            return False
    raise HttpError(401, "unauthorized", "this server needs 'Authorization: Bearer TOKEN' with every request "
                                         "(in a browser, open /?token=TOKEN once)")


def check_same_origin(headers: Any, method: str) -> None:
    """Refuse a write that a browser says another site's page (or another port's) sent."""
    if method in SAFE_METHODS:
        return
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in SAME_ORIGIN_SITES:
        raise HttpError(403, "cross_site", f"a write from another site's page is refused (Sec-Fetch-Site: {site})")
    origin = headers.get("Origin")
    if origin is not None and origin.strip().lower() != f"http://{headers.get('Host', '')}".lower():
        raise HttpError(403, "cross_origin", f"a write from a page of {origin} is refused: "
                                             "only this server's own pages and non-browser clients may write")


def _compare(given: str, token: str) -> None:
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HttpError(403, "bad_token", "the token is wrong")


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    try:
        morsel = SimpleCookie(header).get(name)
    except CookieError:
        return None
    return morsel.value if morsel is not None else None
