"""Who may talk to the server, and how much they may send.

The server binds to loopback unless told otherwise. Binding anywhere else exposes
the context to the network, so it needs a token, and every write must then carry it
(``Authorization: Bearer TOKEN``). On loopback the ``Host`` header must name
loopback too, so a web page cannot reach the server through a DNS name rebound to
127.0.0.1; and writes must be ``application/json``, which a cross-site form cannot send
without the browser asking first (and the server never allows it).
"""

from __future__ import annotations

import hmac
import ipaddress

from ..errors import UsageError

MAX_BODY_BYTES = 1024 * 1024
"""The largest request body accepted (a written value with its JSON envelope)."""

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
TOKEN_ENV = "ORCH_TOKEN"


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
            "(clients then send 'Authorization: Bearer TOKEN' with every write), or bind to 127.0.0.1"
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


def check_token(header: str | None, token: str | None) -> None:
    """With a token configured, ``header`` must be ``Bearer <token>``."""
    if not token:
        return
    if not header:
        raise HttpError(401, "unauthorized", "this server needs 'Authorization: Bearer TOKEN' for writes")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HttpError(401, "unauthorized", "the Authorization header must be 'Bearer TOKEN'")
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HttpError(403, "bad_token", "the token is wrong")
