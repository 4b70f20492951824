"""The context server against hostile clients, over raw sockets: smuggled requests, malformed
input, tricklers, floods of connections and of event streams; and the bounds that hold
under load (the event hub's replays, the store pool).

Each test runs a real ``orch serve`` (the ``orch_server`` fixture, or a subprocess of its own
where it needs a lower open-files limit) and speaks HTTP byte by byte, as an attacker would.
"""

from __future__ import annotations

import json
import os
import resource
import select
import selectors
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from orch_test_helpers import wait_for_url
from orchestrator_core.testing import orch_executable

STEPS = '''
from orchestrator_core import BaseScriptlet

class Note(BaseScriptlet):
    name = "note"
    outputs = ("note.text_v1",)
    def run(self, ctx, params):
        ctx.set("note.text_v1", params.get("text", "hello"))
'''

QUICK = """
name: quick
steps:
  - {name: first, module: hostile_steps, function: Note, params: {text: one}}
  - {name: second, module: hostile_steps, function: Note, params: {text: two}}
"""

EVIL_BODY = b'{"value":"pwned","who":"evil"}'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "hostile_steps.py").write_text(STEPS)
    (tmp_path / "quick.yaml").write_text(QUICK)
    return tmp_path


@pytest.fixture
def env(project: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(project), "ORCH_LOG_LEVEL": "WARNING"}


def port_of(url: str) -> int:
    return urlsplit(url).port


def exchange(port: int, data: bytes, *, expect: int = 1, linger_s: float = 0.3,
             timeout: float = 10.0) -> tuple[list[dict], bool]:
    """Send ``data`` on one connection; the responses read back, and whether the server closed it.

    Reading stops when the server closes, or ``linger_s`` after ``expect`` responses have
    arrived (time for one more to show, if the server wrongly sends one).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received, closed = b"", False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(parse_responses(received)) >= expect:
                deadline = min(deadline, time.monotonic() + linger_s)
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                closed = True
                break
            received += chunk
    return parse_responses(received), closed


def parse_responses(data: bytes) -> list[dict]:
    """Split a byte stream into complete HTTP responses: status, headers (lower-case names), body."""
    responses = []
    while b"\r\n\r\n" in data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict((name.strip().lower(), value.strip()) for name, _, value in
                       (line.partition(":") for line in lines[1:]))
        length = int(headers.get("content-length", "0"))
        if len(rest) < length:
            break
        body, data = rest[:length], rest[length:]
        responses.append({"status": int(lines[0].split()[1]), "headers": headers, "body": body})
    return responses


def request(method: str, path: str, port: int, *, body: bytes = b"", headers: dict | None = None,
            host: str | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("PUT", "POST"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def evil_put(port: int) -> bytes:
    return request("PUT", "/api/runs/latest/context/evil.key_v1", port, body=EVIL_BODY,
                   headers={"Content-Type": "application/json"})


def assert_not_written(port: int, orch_cli, env) -> None:
    responses, _ = exchange(port, request("GET", "/api/runs/latest/context/evil.key_v1", port))
    assert [r["status"] for r in responses] == [404]
    shown = orch_cli("context", "show", "evil.key_v1", "--history", "--json", env=env)
    assert "evil" not in shown.out and "pwned" not in shown.out


def test_a_request_smuggled_in_a_refused_requests_body_is_never_run(project, env, orch_cli, orch_server):
    orch_cli("run", "quick.yaml", env=env).assert_success()
    port = port_of(orch_server(env=env).url)
    inner = evil_put(port)
    text = {"Content-Type": "text/plain;charset=UTF-8"}
    outers = {
        "404": (request("POST", "/nope", port, body=inner, headers=text), 404),
        "405": (request("POST", "/api/runs", port, body=inner, headers=text), 405),
        "405 on the key itself": (request("POST", "/api/runs/latest/context/evil.key_v1", port, body=inner,
                                          headers=text), 405),
        "403 rebinding Host": (request("POST", "/api/runs", port, body=inner, headers=text,
                                       host="attacker.example:80"), 403),
        "403 cross-origin": (request("POST", "/nope", port, body=inner,
                                     headers={**text, "Origin": "http://127.0.0.1:1"}), 403),
        "GET with a body": (request("GET", "/api/runs", port, body=inner), 200),
        "415 PUT as text": (request("PUT", "/api/runs/latest/context/evil.other_v1", port, body=inner,
                                    headers=text), 415),
    }
    for name, (outer, status) in outers.items():
        responses, _ = exchange(port, outer)
        assert [r["status"] for r in responses] == [status], name
        assert_not_written(port, orch_cli, env)

    # a body the server cannot delimit closes the connection: what follows is never parsed
    chunked = (f"POST /nope HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n\r\n"
               f"{len(inner):x}\r\n").encode() + inner + b"\r\n0\r\n\r\n"
    two_lengths = (f"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n"
                   f"Content-Length: {len(inner)}\r\n\r\n").encode() + inner
    for outer in (chunked, two_lengths):
        responses, closed = exchange(port, outer)
        assert len(responses) == 1 and closed and responses[0]["status"] in (400, 404, 411)
    assert_not_written(port, orch_cli, env)

    # framing, not just closing: after a refused request with a body, the connection serves the next one
    responses, _ = exchange(port, request("POST", "/nope", port, body=b"x" * 5000) +
                            request("GET", "/healthz", port), expect=2)
    assert [r["status"] for r in responses] == [404, 200]
    assert json.loads(responses[1]["body"])["status"] == "ok"


def test_every_malformed_request_is_a_4xx_with_a_json_error(project, env, orch_cli, orch_server):
    orch_cli("run", "quick.yaml", env=env).assert_success()
    port = port_of(orch_server(env=env).url)
    json_type = {"Content-Type": "application/json"}
    key = "/api/runs/latest/context/client.x_v1"
    nested = b'{"value": ' + b"[" * 5000 + b"]" * 5000 + b', "who": "t"}'
    cases = {
        "nested 5,000 deep": (request("PUT", key, port, body=nested, headers=json_type), 400, "too_deep"),
        "nested 150 deep": (request("PUT", key, port, body=b'{"value": ' + b"[" * 150 + b"]" * 150 + b', "who": "t"}',
                                    headers=json_type), 400, "too_deep"),
        "limit with 23 digits": (request("GET", "/api/runs?limit=" + "9" * 23, port), 400, "bad_parameter"),
        "limit too large": (request("GET", "/api/runs?limit=10001", port), 400, "bad_parameter"),
        "limit in other digits": (request("GET", "/api/runs?limit=%D9%A3", port), 400, "bad_parameter"),
        "after with 23 digits": (request("GET", "/api/events?after=" + "9" * 23, port), 400, "bad_parameter"),
        "after not a number": (request("GET", "/api/events?after=garbage", port), 400, "bad_parameter"),
        "Last-Event-ID with 23 digits": (request("GET", "/api/events", port, headers={"Last-Event-ID": "9" * 23}),
                                         400, "bad_parameter"),
        "%ff in a key": (request("GET", "/api/runs/latest/context/a%ffb", port), 400, "bad_encoding"),
        "%ff in a written key": (request("PUT", "/api/runs/latest/context/a%ff", port,
                                         body=b'{"value": 1, "who": "t"}', headers=json_type), 400, "bad_encoding"),
        "a malformed escape": (request("GET", "/api/runs/latest/context/a%zz", port), 400, "bad_encoding"),
        "%ff in the query": (request("GET", "/api/runs?recipe=%ff", port), 400, "bad_encoding"),
        "Content-Length not a number": (request("GET", "/healthz", port, headers={"Content-Length": "-1"}), 400,
                                        "bad_length"),
    }
    for name, (raw, status, code) in cases.items():
        responses, _ = exchange(port, raw)
        assert len(responses) == 1, name
        response = responses[0]
        assert response["headers"]["content-type"] == "application/json", name  # never SSE headers first
        document = json.loads(response["body"])
        assert (response["status"], document["error"]) == (status, code), (name, document)
    # within the limits, the same requests succeed
    ok = b'{"value": ' + b"[" * 50 + b"]" * 50 + b', "who": "t"}'
    assert exchange(port, request("PUT", key, port, body=ok, headers=json_type))[0][0]["status"] == 201
    assert exchange(port, request("GET", "/api/runs?limit=10000", port))[0][0]["status"] == 200
    written = exchange(port, request("PUT", "/api/runs/latest/context/caf%C3%A9_v1", port,
                                     body=b'{"value": 1, "who": "t"}', headers=json_type))[0][0]
    assert json.loads(written["body"])["key"] == "caf\u00e9_v1"


def test_cross_site_writes_are_refused_and_the_servers_own_are_not(project, env, orch_cli, orch_server):
    orch_cli("run", "quick.yaml", env=env).assert_success()
    port = port_of(orch_server(env=env).url)
    key = "/api/runs/latest/context/client.site_v1"
    body = b'{"value": 1, "who": "t"}'
    refused = {
        "another port": ({"Origin": "http://127.0.0.1:1"}, "cross_origin"),
        "another site": ({"Origin": "https://attacker.example"}, "cross_origin"),
        "a sandboxed page": ({"Origin": "null"}, "cross_origin"),
        "Sec-Fetch-Site cross-site": ({"Sec-Fetch-Site": "cross-site"}, "cross_site"),
        "Sec-Fetch-Site same-site": ({"Sec-Fetch-Site": "same-site"}, "cross_site"),
    }
    for name, (headers, code) in refused.items():
        responses, _ = exchange(port, request("PUT", key, port, body=body,
                                              headers={"Content-Type": "application/json", **headers}))
        assert (responses[0]["status"], json.loads(responses[0]["body"])["error"]) == (403, code), name
    own = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}
    assert exchange(port, request("PUT", key, port, body=body, headers=own))[0][0]["status"] == 201
    # reads are not writes: a page elsewhere may not read them (no CORS), but the request is answered
    assert exchange(port, request("GET", "/api/runs", port, headers={"Origin": "http://127.0.0.1:1"}))[0][0][
        "status"] == 200


def test_a_trickling_client_is_dropped_at_the_request_deadline_and_an_idle_one_at_the_idle_limit(
        project, env, orch_server):
    port = port_of(orch_server("--request-timeout", "1", "--idle-timeout", "2", env=env).url)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        answer = b""
        for _ in range(40):  # a header byte every 0.2 s, until the server answers: no recv alone times out
            if select.select([sock], [], [], 0.2)[0]:
                break
            sock.sendall(b"X")
        sock.settimeout(5)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        dropped_after = time.monotonic() - started
    responses = parse_responses(answer)
    assert [r["status"] for r in responses] == [408]
    assert json.loads(responses[0]["body"])["error"] == "request_timeout"
    assert dropped_after < 7  # the 1 s deadline (and a loaded machine's delays), not 40 trickled bytes (8 s) later

    for first in (b"", request("GET", "/healthz", port)):  # silent from the start, or after a request
        started = time.monotonic()  # before the server's idle clock starts, however late this test runs on
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(first)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
            assert 1.5 < time.monotonic() - started < 9  # the 2 s idle limit, not the socket's 10 s timeout
            assert [r["status"] for r in parse_responses(received)] == ([200] if first else [])


def test_connections_over_the_cap_get_a_clear_503_and_the_server_recovers(project, env, orch_server):
    port = port_of(orch_server("--max-connections", "8", env=env).url)
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(8)]
    try:
        time.sleep(0.3)  # let the server accept them all
        responses, closed = exchange(port, request("GET", "/healthz", port))
        assert closed and [r["status"] for r in responses] == [503]
        document = json.loads(responses[0]["body"])
        assert document["error"] == "too_many_connections" and "8" in document["message"]
        assert responses[0]["headers"]["retry-after"] == "1"
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while True:
        responses, _ = exchange(port, request("GET", "/healthz", port))
        if responses and responses[0]["status"] == 200:
            break
        assert time.monotonic() < deadline, responses
        time.sleep(0.1)

    # event streams may not take every connection: plain requests keep some
    streams = [open_stream(port) for _ in range(4)]
    try:
        responses, _ = exchange(port, request("GET", "/api/events", port))
        assert responses[0]["status"] == 503 and json.loads(responses[0]["body"])["error"] == "too_many_streams"
        assert exchange(port, request("GET", "/healthz", port))[0][0]["status"] == 200
    finally:
        for sock in streams:
            sock.close()


def open_stream(port: int, path: str = "/api/events") -> socket.socket:
    """A connection with an event stream started on it (its headers read)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(request("GET", path, port))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the stream"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head, head[:200]
    return sock


def threads_of(pid: int) -> int:
    return int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("Threads:")))


def settled_threads(pid: int, expected: int, within: float = 5.0) -> int:
    """``pid``'s thread count once it is down to ``expected``, or what it still is after ``within`` seconds."""
    deadline = time.monotonic() + within
    while (count := threads_of(pid)) > expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return count


def descriptors(pid: int, marker: str) -> int:
    """How many of ``pid``'s open files have ``marker`` in their link (``socket:``, ``state.db``)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += marker in os.readlink(fd)
        except OSError:
            pass
    return count


def test_600_event_streams_under_1024_open_files_leave_the_server_answering(project, env, orch_cli):
    orch_cli("run", "quick.yaml", env=env).assert_success()
    log = project / "serve.log"

    def limit_open_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    with open(log, "w") as err:
        server = subprocess.Popen([orch_executable(), "serve", "--port", "0"], cwd=project,
                                  env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=err,
                                  preexec_fn=limit_open_files)
    streams: list[socket.socket] = []
    try:
        port = port_of(wait_for_url(log, server))
        baseline, listening = threads_of(server.pid), descriptors(server.pid, "socket:")
        for _ in range(600):
            streams.append(open_stream(port))
        # one thread serves every stream; a request thread that handed its stream over ends a moment later
        assert settled_threads(server.pid, baseline + 2) <= baseline + 2
        started = time.monotonic()
        responses, _ = exchange(port, request("GET", "/healthz", port))
        assert [r["status"] for r in responses] == [200]
        assert time.monotonic() - started < 2
        assert len(os.listdir(f"/proc/{server.pid}/fd")) < 1024

        # one poller fans a run's events out to every stream
        orch_cli("run", "quick.yaml", env=env).assert_success()
        waiting = {sock: b"" for sock in streams}
        selector = selectors.DefaultSelector()
        for sock in streams:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        while waiting and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                sock = key.fileobj
                waiting[sock] += sock.recv(65536)
                if b'"event":"run_finish"' in waiting[sock]:
                    del waiting[sock]
                    selector.unregister(sock)
        selector.close()
        assert not waiting, f"{len(waiting)} streams did not get the run's events"

        # the clients leave: their connections are closed at once, and the pool has shrunk
        for sock in streams:
            sock.close()
        streams.clear()
        deadline = time.monotonic() + 10  # not the 15 s heartbeat that would find them closed otherwise
        while descriptors(server.pid, "socket:") > listening and time.monotonic() < deadline:
            time.sleep(0.05)
        assert descriptors(server.pid, "socket:") == listening
        assert settled_threads(server.pid, baseline + 2) <= baseline + 2
        assert descriptors(server.pid, "state.db") <= 3 * 4  # at most MAX_IDLE connections kept
        assert exchange(port, request("GET", "/healthz", port))[0][0]["status"] == 200
    finally:
        for sock in streams:
            sock.close()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, log.read_text()


def test_a_burst_of_readers_is_served_with_a_bounded_pool_that_shrinks_afterwards(project, env, orch_cli,
                                                                                   orch_server):
    import threading

    orch_cli("run", "quick.yaml", env=env).assert_success()
    served = orch_server(env=env)
    port, pid = port_of(served.url), served.process.pid
    statuses: list[int] = []
    most = [0]

    def reader() -> None:
        for _ in range(10):
            responses, _ = exchange(port, request("GET", "/api/runs/latest/context/note.text_v1", port), linger_s=0)
            statuses.extend(r["status"] for r in responses)
            most[0] = max(most[0], descriptors(pid, "state.db"))

    readers = [threading.Thread(target=reader) for _ in range(40)]
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join(60)
    assert statuses == [200] * 400
    assert most[0] <= 3 * 16  # at most MAX_OPEN store connections at once, 3 files each
    # Afterwards, at most MAX_IDLE kept, counted by their write-ahead logs: one per open
    # connection. The database files cannot tell: SQLite keeps a closed connection's descriptor
    # of the database open while another connection of the process holds a lock on that file
    # (closing it would drop the process's POSIX locks), and reuses it later.
    assert descriptors(pid, "state.db-wal") <= 4


def test_the_store_pool_lends_at_most_max_open_connections_and_keeps_max_idle(project, env, orch_cli):
    import threading

    from orchestrator_core.server import pool as pool_module

    orch_cli("run", "quick.yaml", env=env).assert_success()
    pool = pool_module.StorePool(project / ".orch")
    lock = threading.Lock()
    holding, most, served = [0], [0], []
    full = threading.Event()  # MAX_OPEN connections are lent at once

    def borrower() -> None:
        with pool.store() as store:
            with lock:
                holding[0] += 1
                most[0] = max(most[0], holding[0])
                if holding[0] == pool_module.MAX_OPEN:
                    full.set()
            served.append(store.last_event_id())
            full.wait(20)  # hold the connection until the pool is at its bound (an unbounded one goes past it)
            time.sleep(0.05)
            with lock:
                holding[0] -= 1

    borrowers = [threading.Thread(target=borrower) for _ in range(3 * pool_module.MAX_OPEN)]
    try:
        for thread in borrowers:
            thread.start()
        for thread in borrowers:
            thread.join(30)
        assert len(served) == 3 * pool_module.MAX_OPEN  # everyone was served, waiting their turn
        assert most[0] == pool_module.MAX_OPEN
        assert pool.idle == pool_module.MAX_IDLE  # the others were closed as they came back
    finally:
        pool.close()
    assert pool.idle == 0 and descriptors(os.getpid(), str(project / ".orch" / "state.db")) == 0


class EventStream:
    """Reads the events of a stream socket: ``until(text)`` gives ``(id, record)`` up to the first holding it."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def until(self, text: bytes, timeout: float = 60) -> list[tuple[int, dict]]:
        self.sock.settimeout(timeout)
        events = []
        while True:
            while b"\n\n" in self.buffer:
                block, self.buffer = self.buffer.split(b"\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.decode().splitlines() if ": " in line)
                if "id" in fields:
                    events.append((int(fields["id"]), json.loads(fields["data"])))
                    if text in fields["data"].encode():
                        return events
            chunk = self.sock.recv(65536)
            assert chunk, "the stream ended early"
            self.buffer += chunk


def test_a_replay_from_the_start_joins_the_live_stream_without_a_gap_or_a_repeat(project, env, orch_server):
    import sqlite3

    steps = "".join(f"  - {{name: s{i}, module: hostile_steps, function: Note, params: {{text: '{i}'}}}}\n"
                    for i in range(400))
    (project / "long.yaml").write_text("name: long\nsteps:\n" + steps)
    port = port_of(orch_server(env=env).url)
    live = EventStream(open_stream(port))
    run = subprocess.Popen([orch_executable(), "run", "long.yaml"], cwd=project, env={**os.environ, **env},
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = live.until(b'"step":"s300"')  # over 600 events journaled: more than a batch
        run_id = first[0][1]["run"]
        replay = EventStream(open_stream(port, "/api/events?after=0"))  # over a batch behind, events arriving
        one_run = EventStream(open_stream(port, f"/api/events?after=0&run={run_id}"))
        streams = {"live": first + live.until(b'"event":"run_finish"'),
                   "replay": replay.until(b'"event":"run_finish"'),
                   "one run": one_run.until(b'"event":"run_finish"')}
        assert run.wait(timeout=60) == 0, run.stderr.read()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    with sqlite3.connect(project / ".orch" / "state.db") as db:
        journal = [row[0] for row in db.execute("SELECT id FROM events ORDER BY id")]
        of_run = [row[0] for row in db.execute("SELECT id FROM events WHERE run = ? ORDER BY id", (run_id,))]
    assert len(of_run) > 800 and first[-1][0] > 500  # the replays started more than a batch behind
    assert [event_id for event_id, _ in streams["replay"]] == journal
    assert [event_id for event_id, _ in streams["one run"]] == of_run
    live_ids = [event_id for event_id, _ in streams["live"]]
    assert live_ids == of_run  # the live stream started before the run: all of it, in order
