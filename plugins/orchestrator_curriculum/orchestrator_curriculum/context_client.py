"""A small HTTP client of the context server (``orch serve``), for the curriculum's server steps.

Plain ``urllib``: the steps are real clients of the API, as any other program would be.
It is imported when a request is made: ``urllib.request`` costs ``orch`` start-up ~14 ms.
Requests carry the token of ``$ORCH_TOKEN`` when it is set. A refusal from the server
becomes a ``ScriptletError`` with the server's status and message.
"""

from __future__ import annotations

import json
import os
from typing import Any

from orchestrator_core import ScriptletError

TIMEOUT_S = 10.0
URL_KEY = "context_server.url_v1"  # where start_context_server_v2 leaves the server's address


def server_url(ctx: Any) -> str:
    """The address of the run's context server, or the error of a step run without one."""
    url = ctx.get(URL_KEY)
    if not url:
        raise ScriptletError(f"No context server: {URL_KEY} is not set (run start_context_server_v2 first)",
                             details={"missing": [URL_KEY]})
    return url


def _call(method: str, url: str, body: Any = None) -> dict[str, Any]:
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Accept": "application/json"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    token = os.environ.get("ORCH_TOKEN")
    if token:  # a server with a token wants it with every request, reads included
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read())
        except ValueError:
            detail = {"message": exc.reason}
        raise ScriptletError(f"context server refused {method} {url}: {exc.code} {detail.get('message', '')}",
                             details={"status": exc.code, "url": url, "error": detail.get("error")}) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ScriptletError(f"context server at {url} cannot be reached: {reason}", details={"url": url}) from None


def key_url(base: str, run: str, key: str) -> str:
    from urllib.parse import quote

    return f"{base.rstrip('/')}/api/runs/{quote(run, safe='')}/context/{quote(key, safe='')}"


def health(base: str) -> dict[str, Any]:
    return _call("GET", f"{base.rstrip('/')}/healthz")


def write_key(base: str, run: str, key: str, value: Any, *, who: str) -> dict[str, Any]:
    """Write ``key`` of run ``run``, attributed to ``who``; the server's answer (``id``, ``ts``...)."""
    return _call("PUT", key_url(base, run, key), {"value": value, "who": who})


def read_key(base: str, run: str, key: str) -> dict[str, Any]:
    """``key`` of run ``run``: ``value``, ``who``, ``step``, ``ts`` and its ``history``."""
    return _call("GET", key_url(base, run, key))
