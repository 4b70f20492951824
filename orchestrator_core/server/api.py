"""Routing and the request rules: every answer is JSON, every refusal a 4xx with a reason.

``Api`` holds what the server serves (the store, the token); ``RequestHandler`` is the
stdlib handler that parses a request, finds its route and writes the answer. Routes
match the raw path, and each part is percent-decoded afterwards, so a key may contain
``/`` (sent as ``%2F``); a part that is not valid percent-encoded UTF-8 is a 400. Every
request's body is read or drained before the answer (``framing``), and each request
must arrive within the deadlines of ``connections``. See docs/server.md for every
endpoint and the threat model.
"""

from __future__ import annotations

import io
import json
import logging
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from orchestrator_core._markers import __version__
from orchestrator_core.run.context import RESERVED_PREFIX, json_safe
from orchestrator_core.errors import ContextError, utc_timestamp
from orchestrator_core.server import stream, views
from orchestrator_core.server.access import (MAX_BODY_BYTES, TOKEN_PARAMETER, HttpError, check_host_header, check_same_origin, check_token,
                     cookie_name, cookie_value)
from orchestrator_core.server.connections import Limits, RequestTimeout, SendTimeout, TimedSocket
from orchestrator_core.server.framing import RequestBody
from orchestrator_core.server.pool import StorePool

logger = logging.getLogger("orchestrator.server")

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
MAX_KEY_LENGTH = 256
MAX_WHO_LENGTH = 128
WRITE_FIELDS = ("value", "who")
DEFAULT_RUNS_LIMIT = 50
MAX_RUNS_LIMIT = 10_000
MAX_EVENT_ID = 2**63 - 1  # SQLite's largest integer
MAX_JSON_DEPTH = 100  # a written value nested deeper is refused (deeper still, Python's parser would overflow)
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


class Api:
    """What one server serves: the store in ``state_dir`` (guarded by ``token``), and its event hub."""

    def __init__(self, state_dir: Path, *, token: str | None = None, loopback: bool = True,
                 limits: Limits | None = None):
        limits = limits or Limits()
        self.pool = StorePool(state_dir)
        self.hub = stream.EventHub(self.pool, send_timeout=limits.send_timeout)
        self.token = token
        self.loopback = loopback
        self.max_streams = limits.streams()
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = [
            ("GET", re.compile(r"/healthz"), self.healthz),
            ("GET", re.compile(r"/"), self.dashboard),
            ("GET", re.compile(r"/runs/[^/]+(?:/steps/[^/]+)?"), self.dashboard),  # pages a link can open
            ("GET", re.compile(r"/favicon\.ico"), self.favicon),
            ("GET", re.compile(r"/static/([A-Za-z0-9_.-]+)"), self.static),
            ("GET", re.compile(r"/api/runs"), self.runs),
            ("GET", re.compile(r"/api/runs/([^/]+)"), self.run),
            ("GET", re.compile(r"/api/runs/([^/]+)/steps/([^/]+)"), self.step),
            ("GET", re.compile(r"/api/runs/([^/]+)/context"), self.context),
            ("GET", re.compile(r"/api/runs/([^/]+)/context/([^/]+)"), self.key),
            ("PUT", re.compile(r"/api/runs/([^/]+)/context/([^/]+)"), self.write_key),
            ("GET", re.compile(r"/api/events"), self.events),
        ]

    def stop_streams(self) -> None:
        self.hub.close()

    def close(self) -> None:
        self.hub.close()
        self.pool.close()

    def route(self, method: str, path: str) -> tuple[Callable[..., Any], list[str]]:
        allowed = []
        for route_method, pattern, view in self.routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method == method or (method == "HEAD" and route_method == "GET"):
                return view, [_decode(part, "path") for part in match.groups()]
            allowed.append(route_method)
        if allowed:
            raise HttpError(405, "method_not_allowed", f"{method} is not allowed on {path}; use {', '.join(allowed)}")
        raise HttpError(404, "not_found", f"no such endpoint: {path} (see /api/runs, /api/events, /healthz)")

    # -- views ---------------------------------------------------------------------------
    def healthz(self, request: RequestHandler) -> None:
        request.send_json(200, {"status": "ok", "version": __version__, "state_dir": str(self.pool.state_dir),
                                "store": self.pool.path.exists()})

    def dashboard(self, request: RequestHandler) -> None:
        self.static(request, "index.html")

    def favicon(self, request: RequestHandler) -> None:
        self.static(request, "favicon.svg")

    def static(self, request: RequestHandler, name: str) -> None:
        path = STATIC_DIR / name
        kind = STATIC_TYPES.get(path.suffix)
        if kind is None or not path.is_file():
            raise HttpError(404, "not_found", f"no such file: /static/{name}")
        request.send_body(200, path.read_bytes(), kind)

    def runs(self, request: RequestHandler) -> None:
        query = request.query
        limit = _int_param(query, "limit", DEFAULT_RUNS_LIMIT, minimum=1, maximum=MAX_RUNS_LIMIT)
        with self.pool.store() as store:
            document = views.runs(store, recipe=query.get("recipe"), limit=limit)
        request.send_json(200, document)

    def run(self, request: RequestHandler, reference: str) -> None:
        with self.pool.store() as store:
            document = views.run(store, reference)
        request.send_json(200, document)

    def step(self, request: RequestHandler, reference: str, name: str) -> None:
        with self.pool.store() as store:
            document = views.step(store, reference, name)
        request.send_json(200, document)

    def context(self, request: RequestHandler, reference: str) -> None:
        with self.pool.store() as store:
            document = views.context(store, reference)
        request.send_json(200, document)

    def key(self, request: RequestHandler, reference: str, name: str) -> None:
        with self.pool.store() as store:
            document = views.key(store, reference, name)
        request.send_json(200, document)

    def write_key(self, request: RequestHandler, reference: str, name: str) -> None:
        body = request.read_json_body()
        value, who = _write_fields(body)
        _check_key(name)
        try:
            value = json_safe(name, value)
        except ContextError as exc:
            raise HttpError(400, "bad_value", str(exc)) from None
        text = json.dumps(value, separators=(",", ":"))
        with self.pool.store() as store:
            record = views.find_run(store, reference)
            assert store is not None
            ts = utc_timestamp()
            event = json.dumps({"schema": "orch.event/1", "event": "context_write", "ts": ts, "run": record.id,
                                "key": name, "who": who}, separators=(",", ":"))
            write_id = store.record_external_write(record.id, name, text, who, ts, event)
            status = record.shown_status
        if write_id is None:
            raise HttpError(404, "unknown_run", f"run {record.id} is no longer in the store")
        request.send_json(201, {"run": record.id, "key": name, "value": value, "who": who, "ts": ts,
                                "id": write_id, "run_status": status})

    def events(self, request: RequestHandler) -> None:
        query = request.query
        run_id = query.get("run")
        after = _int_param(query, "after", None, minimum=0, maximum=MAX_EVENT_ID)
        if after is None:
            last = request.headers.get("Last-Event-ID")
            after = _int_value("Last-Event-ID", last, minimum=0, maximum=MAX_EVENT_ID) if last else None
        with self.pool.store() as store:
            if run_id is not None:
                run_id = views.find_run(store, run_id).id
            if after is None:
                after = store.last_event_id() if store is not None else 0
        stream.send_events(request, self.hub, after=after, run_id=run_id, limit=self.max_streams)


def _int_value(name: str, raw: str, *, minimum: int, maximum: int) -> int:
    if not re.fullmatch(r"[0-9]{1,19}", raw):
        raise HttpError(400, "bad_parameter", f"{name} must be a non-negative integer, got {raw[:40]!r}")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise HttpError(400, "bad_parameter", f"{name} must be from {minimum} to {maximum}, got {value}")
    return value


def _int_param(query: dict[str, str], name: str, default: int | None, *, minimum: int,
               maximum: int) -> int | None:
    raw = query.get(name)
    return default if raw is None else _int_value(name, raw, minimum=minimum, maximum=maximum)


def _decode(text: str, where: str) -> str:
    """Percent-decode a path part or query: a malformed escape or invalid UTF-8 is a 400, not U+FFFD."""
    try:
        if BAD_ESCAPE.search(text):
            raise ValueError
        return unquote(text, errors="strict")
    except ValueError:  # UnicodeDecodeError included
        raise HttpError(400, "bad_encoding", f"the {where} is not valid percent-encoded UTF-8: {text[:80]!r}") from None


def _query(text: str) -> dict[str, str]:
    _decode(text.replace("+", " "), "query")
    try:
        fields = parse_qs(text, errors="strict", max_num_fields=100)
    except ValueError:
        raise HttpError(400, "bad_query", "the query has more than 100 fields") from None
    return {name: values[-1] for name, values in fields.items()}


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (iteratively: no recursion limit to hit)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _write_fields(body: Any) -> tuple[Any, str]:
    if not isinstance(body, dict):
        raise HttpError(400, "bad_body", f"the body must be a JSON object {{\"value\": ..., \"who\": ...}}, "
                                         f"got {type(body).__name__}")
    unknown = sorted(set(body) - set(WRITE_FIELDS))
    if unknown:
        raise HttpError(400, "bad_body", f"unknown field {unknown[0]!r}; a write has 'value' and 'who'")
    if "value" not in body:
        raise HttpError(400, "bad_body", "missing 'value' (any JSON value, null included)")
    who = body.get("who")
    if not isinstance(who, str) or not who.strip():
        raise HttpError(400, "bad_body", "missing 'who': a non-empty string naming the writer (it is recorded)")
    if len(who) > MAX_WHO_LENGTH or not who.isprintable():
        raise HttpError(400, "bad_body", f"'who' must be printable and at most {MAX_WHO_LENGTH} characters")
    return body["value"], who.strip()


def _check_key(name: str) -> None:
    if not name or len(name) > MAX_KEY_LENGTH or not name.isprintable():
        raise HttpError(400, "bad_key", f"a key is 1 to {MAX_KEY_LENGTH} printable characters")
    if name.startswith(RESERVED_PREFIX):
        raise HttpError(403, "reserved_key", f"{name!r}: '{RESERVED_PREFIX}*' keys belong to the runner")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class RequestHandler(BaseHTTPRequestHandler):
    """One client connection: parses requests, calls the route, answers in JSON."""

    protocol_version = "HTTP/1.1"
    server_version = "orch"
    sys_version = ""
    server: Any
    body: RequestBody
    query: dict[str, str]

    def setup(self) -> None:
        """The connection's streams read and write against the server's deadlines (``connections``)."""
        self.connection = self.request
        self.timed = TimedSocket(self.connection, self.server.limits)
        self.rfile = io.BufferedReader(self.timed, 65536)
        self.wfile = self.timed
        self._extra_headers: list[tuple[str, str]] = []

    def handle_one_request(self) -> None:
        self.timed.expect_request()
        try:
            super().handle_one_request()
        except RequestTimeout as exc:
            self.close_connection = True
            if exc.started:  # a request began and did not finish in time: say so, then close
                self.requestline, self.request_version, self.command = "", "HTTP/1.1", ""
                self.send_json(408, {"error": "request_timeout", "status": 408,
                                     "message": f"the request did not arrive within "
                                                f"{self.server.limits.request_timeout:g} s"})
        except SendTimeout:
            self.close_connection = True

    # -- dispatch --------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        self._dispatch()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        app: Api = self.server.app
        self.body = RequestBody(self.rfile, self.headers)
        self._extra_headers = []
        try:
            if self.body.error is not None:  # a body that cannot be delimited: refuse the request, close
                raise self.body.error
            parts = urlsplit(self.path)
            self.query = _query(parts.query)
            check_host_header(self.headers.get("Host"), loopback=app.loopback)
            if check_token(self.headers, self.command, self.query.get(TOKEN_PARAMETER), token=app.token,
                           port=self.server.server_address[1]):
                return self._enter_with_token(parts.path)
            check_same_origin(self.headers, self.command)
            view, args = app.route(self.command, parts.path)
            if self.command != "PUT" and not self.body.discard():  # only a write has a body to read
                self.close_connection = True
            view(self, *args)
        except HttpError as exc:
            if exc.close or not self.body.discard():
                self.close_connection = True
            self.send_json(exc.status, {"error": exc.code, "message": exc.message, "status": exc.status})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except (RequestTimeout, SendTimeout):
            raise
        except Exception:  # noqa: BLE001 - a bug must not take the server down
            logger.exception("%s %s failed", self.command, self.path)
            self.close_connection = True
            self.send_json(500, {"error": "internal", "message": "internal error (logged by the server)",
                                 "status": 500})
        finally:
            if not self.body.reusable:
                self.close_connection = True

    def _enter_with_token(self, path: str) -> None:
        """``GET PATH?token=TOKEN``: set the token cookie and send the browser to the same URL without it."""
        if not self.body.discard():
            self.close_connection = True
        rest = urlencode({k: v for k, v in self.query.items() if k != TOKEN_PARAMETER})
        name, value = cookie_name(self.server.server_address[1]), cookie_value(self.server.app.token)
        location = "/" + path.lstrip("/\\")  # never '//host' nor '/\\host' (browsers read both as another host)
        self._extra_headers = [("Location", location + (f"?{rest}" if rest else "")),
                               ("Set-Cookie", f"{name}={value}; HttpOnly; SameSite=Strict; Path=/")]
        self.send_json(303, {"status": 303, "message": "signed in: the token is kept in a cookie"})

    # -- reading ---------------------------------------------------------------------------
    def read_json_body(self) -> Any:
        """The request body as JSON, within the size and nesting limits; a 4xx for anything else."""
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise HttpError(415, "unsupported_media_type",
                            f"send the body as Content-Type: application/json (got {kind or 'none'!r})")
        body = self.body.read(MAX_BODY_BYTES)
        try:
            value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except RecursionError:
            value, deep = None, True
        except (UnicodeDecodeError, ValueError) as exc:
            raise HttpError(400, "bad_json", f"the body is not valid JSON: {exc}") from None
        else:
            deep = _depth(value) > MAX_JSON_DEPTH + 1  # the envelope {"value": ...} is one level
        if deep:
            raise HttpError(400, "too_deep", f"the value nests lists and objects more than {MAX_JSON_DEPTH} deep")
        return value

    # -- writing ---------------------------------------------------------------------------
    def send_json(self, status: int, document: Any) -> None:
        self.send_body(status, json.dumps(document, separators=(",", ":")).encode(), "application/json")

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in self._extra_headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's refusals (a bad request line, headers too long...) in JSON like ours."""
        self.close_connection = True
        self._extra_headers = []
        self.send_json(code, {"error": "bad_request", "message": message or explain or "bad request",
                              "status": code})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        logger.debug("%s - %s", self.address_string(), format % args)
