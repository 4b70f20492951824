"""Routing and the request rules: every answer is JSON, every refusal a 4xx with a reason.

``Api`` holds what the server serves (the store, the token); ``RequestHandler`` is the
stdlib handler that parses a request, finds its route and writes the answer. Routes
match the raw path, and each part is percent-decoded afterwards, so a key may contain
``/`` (sent as ``%2F``). See docs/server.md for every endpoint.
"""

from __future__ import annotations

import json
import logging
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from .._markers import __version__
from ..context import RESERVED_PREFIX, json_safe
from ..errors import ContextError, utc_timestamp
from . import stream, views
from .access import MAX_BODY_BYTES, HttpError, check_host_header, check_token
from .pool import StorePool

logger = logging.getLogger("orchestrator.server")

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
DRAIN_LIMIT_BYTES = 16 * MAX_BODY_BYTES  # an oversized body up to this is read and dropped, then refused
MAX_KEY_LENGTH = 256
MAX_WHO_LENGTH = 128
WRITE_FIELDS = ("value", "who")
DEFAULT_RUNS_LIMIT = 50


class Api:
    """What one server serves: the store in ``state_dir``, guarded by ``token`` for writes."""

    def __init__(self, state_dir: Path, *, token: str | None = None, loopback: bool = True):
        self.pool = StorePool(state_dir)
        self.token = token
        self.loopback = loopback
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

    def close(self) -> None:
        self.pool.close()

    def route(self, method: str, path: str) -> tuple[Callable[..., Any], list[str]]:
        allowed = []
        for route_method, pattern, view in self.routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method == method or (method == "HEAD" and route_method == "GET"):
                return view, [unquote(part) for part in match.groups()]
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
        limit = _int_param(query, "limit", DEFAULT_RUNS_LIMIT, minimum=1)
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
        check_token(request.headers.get("Authorization"), self.token)
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
        with self.pool.store() as store:
            if run_id is not None:
                run_id = views.find_run(store, run_id).id
            after = _int_param(query, "after", None, minimum=0)
            if after is None:
                last = request.headers.get("Last-Event-ID")
                after = _int_value("Last-Event-ID", last, minimum=0) if last else None
            if after is None:
                after = store.last_event_id() if store is not None else 0
        stream.send_events(request, self.pool, after=after, run_id=run_id)


def _int_value(name: str, raw: str, *, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(400, "bad_parameter", f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise HttpError(400, "bad_parameter", f"{name} must be at least {minimum}, got {value}")
    return value


def _int_param(query: dict[str, str], name: str, default: int | None, *, minimum: int) -> int | None:
    raw = query.get(name)
    return default if raw is None else _int_value(name, raw, minimum=minimum)


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
    timeout = 60  # an idle keep-alive connection is closed after this many seconds
    server: Any

    # -- dispatch --------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        self._dispatch()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        app: Api = self.server.app
        parts = urlsplit(self.path)
        self.query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        try:
            check_host_header(self.headers.get("Host"), loopback=app.loopback)
            view, args = app.route(self.command, parts.path)
            view(self, *args)
        except HttpError as exc:
            if exc.close:
                self.close_connection = True
            self.send_json(exc.status, {"error": exc.code, "message": exc.message, "status": exc.status})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # noqa: BLE001 - a bug must not take the server down
            logger.exception("%s %s failed", self.command, self.path)
            self.close_connection = True
            self.send_json(500, {"error": "internal", "message": "internal error (logged by the server)",
                                 "status": 500})

    # -- reading ---------------------------------------------------------------------------
    def read_json_body(self) -> Any:
        """The request body as JSON, within the size limit; a 4xx for anything else."""
        if self.headers.get("Transfer-Encoding"):
            raise HttpError(411, "length_required", "send the body with a Content-Length (no chunked encoding)",
                            close=True)
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            raise HttpError(411, "length_required", "a write needs a Content-Length and a JSON body", close=True)
        try:
            length = int(raw_length)
        except ValueError:
            raise HttpError(400, "bad_length", f"Content-Length {raw_length!r} is not a number", close=True) from None
        if length < 0:
            raise HttpError(400, "bad_length", "Content-Length is negative", close=True)
        if length > MAX_BODY_BYTES:
            if length <= DRAIN_LIMIT_BYTES:
                self._discard(length)  # a client still sending would miss the answer if we closed now
            raise HttpError(413, "too_large", f"the body is {length} bytes; the limit is {MAX_BODY_BYTES}",
                            close=True)
        body = self.rfile.read(length)
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise HttpError(415, "unsupported_media_type",
                            f"send the body as Content-Type: application/json (got {kind or 'none'!r})")
        try:
            return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise HttpError(400, "bad_json", f"the body is not valid JSON: {exc}") from None

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)

    # -- writing ---------------------------------------------------------------------------
    def send_json(self, status: int, document: Any) -> None:
        self.send_body(status, json.dumps(document, separators=(",", ":")).encode(), "application/json")

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's refusals (a bad request line, headers too long...) in JSON like ours."""
        self.close_connection = True
        self.send_json(code, {"error": "bad_request", "message": message or explain or "bad request",
                              "status": code})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        logger.debug("%s - %s", self.address_string(), format % args)
