"""The context server end to end: a real ``orch serve`` on 127.0.0.1, real ``orch run``s, urllib.

Recipes here use small scriptlets written to the test's folder (``serve_steps.py``) in
the guide's ``module``/``function`` form: ``wait_gate`` holds a run until the test
creates a file, so the test can act while the run is running.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from orchestrator_core import hookimpl
from orchestrator_core.model import Write
from orch_test_helpers import wait_for_url
from orchestrator_core.testing import orch_executable

STEPS = '''
import time
from pathlib import Path
from orchestrator_core import BaseScriptlet, ScriptletError

class Note(BaseScriptlet):
    name = "note"
    outputs = ("note.text_v1",)
    def run(self, ctx, params):
        ctx.set("note.text_v1", params.get("text", "hello"))

class WaitGate(BaseScriptlet):
    name = "wait_gate"
    outputs = ("gate.opened_v1",)
    def run(self, ctx, params):
        gate = Path(ctx.workdir) / params["file"]
        deadline = time.monotonic() + 30
        while not gate.exists():
            if time.monotonic() > deadline:
                raise ScriptletError("the gate was never opened")
            time.sleep(0.01)
        ctx.set("gate.opened_v1", True)

class Echo(BaseScriptlet):
    name = "echo"
    outputs = ("echo.seen_v1",)
    def run(self, ctx, params):
        ctx.set("echo.seen_v1", ctx.get(params["key"]))
'''

QUICK = """
name: quick
merge: {keys: {echo.seen_v1: last_write_wins}}
steps:
  - {name: first, module: serve_steps, function: Note, params: {text: one}}
  - {name: second, module: serve_steps, function: Echo, params: {key: note.text_v1}}
  - {name: third, module: serve_steps, function: Echo, params: {key: note.text_v1}, depends_on: [first]}
"""

GATED = """
name: gated
steps:
  - {name: wait, module: serve_steps, function: WaitGate, params: {file: gate}}
  - {name: echo, module: serve_steps, function: Echo, params: {key: client.note_v1}}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "serve_steps.py").write_text(STEPS)
    (tmp_path / "quick.yaml").write_text(QUICK)
    (tmp_path / "gated.yaml").write_text(GATED)
    return tmp_path


@pytest.fixture
def env(project: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(project), "ORCH_LOG_LEVEL": "WARNING"}


def call(url: str, method: str = "GET", body: object = None, headers: dict | None = None) -> tuple[int, dict]:
    """(status, JSON document) of one request; error statuses too."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def start_run(project: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([orch_executable(), "run", *args], cwd=project, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class EventReader:
    """Reads a Server-Sent Events stream on a thread; ``next()`` gives ``(id, record)`` in order."""

    def __init__(self, url: str, headers: dict | None = None):
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        connection.request("GET", f"{parts.path}?{parts.query}", headers=headers or {})
        self.socket = connection.sock  # kept: shutting it down is what stops a blocked read
        self.response = connection.getresponse()
        assert self.response.status == 200 and self.response.getheader("Content-Type").startswith("text/event-stream")
        self.events: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event_id, data = None, None
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line.startswith("id: "):
                    event_id = int(line[4:])
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif not line and data is not None:
                    self.events.put((event_id, data))
                    event_id, data = None, None
        except (OSError, ValueError):
            pass

    def next(self, timeout: float = 20.0) -> tuple[int, dict]:
        return self.events.get(timeout=timeout)

    def until(self, event: str, timeout: float = 20.0) -> list[tuple[int, dict]]:
        seen = []
        while not seen or seen[-1][1]["event"] != event:
            seen.append(self.next(timeout))
        return seen

    def close(self) -> None:
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        self.response.close()


def test_reads_runs_steps_context_and_a_key_with_its_history(project, env, orch_cli, orch_server):
    orch_cli("run", "quick.yaml", env=env).assert_success()
    orch_cli("run", "quick.yaml", env=env).assert_success()
    url = orch_server(env=env).url

    status, health = call(url + "healthz")
    assert status == 200 and health["status"] == "ok" and health["store"] is True
    status, listing = call(url + "api/runs")
    assert status == 200 and [r["recipe"] for r in listing["runs"]] == ["quick", "quick"]
    latest = listing["runs"][0]
    assert latest["status"] == "ok" and latest["counts"] == {"ok": 3} and listing["cursor"] > 0

    # A unique prefix works like the CLI's. Two runs started in the same second share their first 16
    # characters (the time), and 1 in 256 the next two too: one character past what they share.
    shared = next(i for i, (mine, other) in enumerate(zip(latest["id"], listing["runs"][1]["id"])) if mine != other)
    status, run = call(url + f"api/runs/{latest['id'][:max(shared + 1, 18)]}")
    assert status == 200 and run["run"]["id"] == latest["id"]
    assert [(s["step"], s["status"]) for s in run["steps"]] == [("first", "ok"), ("second", "ok"), ("third", "ok")]
    assert run["depends_on"] == {"first": [], "second": ["first"], "third": ["first"]}
    assert all(s["duration_ms"] >= 0 and s["started"] for s in run["steps"])

    status, context = call(url + "api/runs/latest/context")
    assert status == 200 and context["context"]["echo.seen_v1"]["value"] == "one"
    assert context["context"]["echo.seen_v1"]["step"] == "third"  # recipe order decides the last write

    status, key = call(url + "api/runs/latest/context/note.text_v1")
    assert status == 200 and key["value"] == "one" and key["step"] == "first"
    assert [h["run"] for h in key["history"]] == [r["id"] for r in reversed(listing["runs"])]


def test_a_write_is_attributed_and_recorded_in_the_state_store(project, env, orch_cli, orch_server):
    orch_cli("run", "quick.yaml", env=env).assert_success()
    url = orch_server(env=env).url

    status, answer = call(url + "api/runs/latest/context/client.note_v1", "PUT",
                          {"value": {"from": "outside", "n": [1, 2]}, "who": "ops-console"})
    assert status == 201 and answer["who"] == "ops-console" and answer["run_status"] == "ok"
    status, key = call(url + "api/runs/latest/context/client.note_v1")
    assert key["value"] == {"from": "outside", "n": [1, 2]} and key["who"] == "ops-console" and key["step"] is None

    shown = orch_cli("context", "show", "client.note_v1", "--history", "--json", env=env).assert_success()
    history = json.loads(shown.out)
    assert [(h["who"], h["value"]) for h in history] == [("ops-console", {"from": "outside", "n": [1, 2]})]
    keyed = orch_cli("context", "show", "--json", env=env).assert_success()
    assert json.loads(keyed.out)["client.note_v1"] == {"from": "outside", "n": [1, 2]}


def test_every_bad_request_gets_a_4xx_json_error_and_the_server_keeps_serving(project, env, orch_cli, orch_server):
    orch_cli("run", "quick.yaml", env=env).assert_success()
    url = orch_server(env=env).url
    key_url = url + "api/runs/latest/context/client.x_v1"
    cases = {
        "unknown run": (url + "api/runs/nope", "GET", None, {}, 404, "unknown_run"),
        "unknown run (write)": (url + "api/runs/nope/context/a_v1", "PUT", {"value": 1, "who": "t"}, {}, 404,
                                "unknown_run"),
        "unknown key": (url + "api/runs/latest/context/note.txt_v1", "GET", None, {}, 404, "unknown_key"),
        "unknown endpoint": (url + "api/nothing", "GET", None, {}, 404, "not_found"),
        "wrong method": (url + "api/runs", "DELETE", None, {}, 405, "method_not_allowed"),
        "bad JSON": (key_url, "PUT", b'{"value": 1,', {}, 400, "bad_json"),
        "NaN is not JSON": (key_url, "PUT", b'{"value": NaN, "who": "t"}', {}, 400, "bad_json"),
        "not an object": (key_url, "PUT", [1, 2], {}, 400, "bad_body"),
        "no who": (key_url, "PUT", {"value": 1}, {}, 400, "bad_body"),
        "empty who": (key_url, "PUT", {"value": 1, "who": " "}, {}, 400, "bad_body"),
        "no value": (key_url, "PUT", {"who": "t"}, {}, 400, "bad_body"),
        "unknown field": (key_url, "PUT", {"value": 1, "who": "t", "step": "x"}, {}, 400, "bad_body"),
        "runner key": (url + "api/runs/latest/context/_runner.step_metrics_v1", "PUT", {"value": 1, "who": "t"},
                       {}, 403, "reserved_key"),
        "not JSON content": (key_url, "PUT", b"value=1", {"Content-Type": "application/x-www-form-urlencoded"},
                             415, "unsupported_media_type"),
        "too large": (key_url, "PUT", {"value": "x" * (1024 * 1024), "who": "t"}, {}, 413, "too_large"),
        "bad parameter": (url + "api/runs?limit=many", "GET", None, {}, 400, "bad_parameter"),
        "foreign Host": (url + "api/runs", "GET", None, {"Host": "evil.example:80"}, 403, "forbidden_host"),
    }
    for name, (target, method, body, headers, expected, code) in cases.items():
        status, document = call(target, method, body, headers)
        assert (status, document.get("error")) == (expected, code), (name, document)
        assert document["status"] == expected and document["message"], name

    # no Content-Length, and a chunked body: http.client sends exactly what it is told
    parts = urlsplit(url)
    for headers in ({"Content-Type": "application/json"},
                    {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}):
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.putrequest("PUT", "/api/runs/latest/context/client.x_v1")
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 411 and json.loads(response.read())["error"] == "length_required"
        connection.close()
    # a request line the stdlib parser refuses is answered in JSON too
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.putrequest("GET", "/api/runs", skip_host=True)
    connection.putheader("X-Long", "x" * 70000)
    connection.endheaders()
    response = connection.getresponse()
    assert 400 <= response.status < 500 and json.loads(response.read())["status"] == response.status
    connection.close()

    assert call(url + "healthz")[0] == 200
    assert call(key_url)[0] == 404  # nothing was written


def test_non_loopback_needs_a_token_and_then_every_request_does(project, env, orch_cli, orch_server):
    refused = orch_cli("serve", "--host", "0.0.0.0", "--port", "0", env=env)
    assert refused.exit_code == 2 and "--token" in refused.err and "Traceback" not in refused.err

    orch_cli("run", "quick.yaml", env=env).assert_success()
    served = orch_server("--host", "0.0.0.0", env={**env, "ORCH_TOKEN": "s3cret-token"})
    url = served.url.replace("0.0.0.0", "127.0.0.1")
    key_url = url + "api/runs/latest/context/client.secret_v1"
    body = {"value": 1, "who": "t"}
    assert call(key_url, "PUT", body)[1]["error"] == "unauthorized"
    assert call(key_url, "PUT", body)[0] == 401
    assert call(key_url, "PUT", body, {"Authorization": "Basic czNjcmV0"})[0] == 401
    assert call(key_url, "PUT", body, {"Authorization": "Bearer wrong"}) == (
        403, {"error": "bad_token", "message": "the token is wrong", "status": 403})
    assert call(key_url, "PUT", body, {"Authorization": "Bearer s3cret-token"})[0] == 201
    # reads too: every endpoint, the dashboard and the health check included
    for path in ("api/runs/latest", "api/runs", "healthz", "", "static/dashboard.js", "api/events"):
        status, document = call(url + path)
        assert (status, document["error"]) == (401, "unauthorized"), path
    assert call(url + "api/runs/latest", headers={"Authorization": "Bearer s3cret-token"})[0] == 200
    assert call(url + "api/runs/latest?token=wrong")[0] == 403

    # a browser opens /?token=TOKEN once: a cookie for reads, and the token leaves the address bar
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", "/?token=s3cret-token")
    response = connection.getresponse()
    response.read()
    assert response.status == 303 and response.getheader("Location") == "/"
    cookie = response.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = {"Cookie": cookie.split(";")[0]}
    assert call(url + "api/runs/latest", headers=jar)[0] == 200
    assert call(url + "api/runs/latest", headers={"Cookie": jar["Cookie"].replace(str(parts.port), "1")})[0] == 401
    assert call(url + "api/runs/latest", headers={"Cookie": f"orch_token_{parts.port}=s3cret-token"})[0] == 403
    assert "s3cret-token" not in cookie  # the cookie allows reads only: it is not the token
    status, document = call(key_url, "PUT", body, jar)  # a cookie is never enough to write
    assert (status, document["error"]) == (401, "unauthorized")
    connection.request("GET", "//attacker.example/?token=s3cret-token&run=x")
    response = connection.getresponse()
    response.read()
    assert response.getheader("Location") == "/attacker.example/?run=x"  # never a redirect to another host
    connection.request("GET", "/\\attacker.example/?token=s3cret-token")  # '/\\host' is '//host' to a browser
    response = connection.getresponse()
    response.read()
    assert response.getheader("Location") == "/attacker.example/"
    connection.close()


@pytest.mark.parametrize("where", ["option", "environment"])
def test_a_token_some_clients_could_not_send_as_typed_is_refused_at_start(project, env, orch_cli, where):
    """A non-ASCII token is sent as UTF-8 by curl and as Latin-1 by Python's http.client: it cannot work."""
    for token, culprit in (("pässwörd", "character 2 is 'ä'"), ("two words", "character 4 is ' '"),
                           ("tab\tbed", "character 4 is '\\t'")):
        args, extra = (("--token", token), {}) if where == "option" else ((), {"ORCH_TOKEN": token})
        refused = orch_cli("serve", "--port", "0", *args, env={**env, **extra}, timeout=30)
        assert refused.exit_code == 2, refused.err
        assert "--token (or $ORCH_TOKEN) must be printable ASCII without spaces" in refused.err
        assert culprit in refused.err and "Traceback" not in refused.err and "listening" not in refused.err

def test_sse_streams_the_events_of_a_real_run_in_order_and_resumes_by_id(project, env, orch_server):
    url = orch_server(env=env).url
    stream = EventReader(url + "api/events")
    try:
        run = start_run(project, env, "quick.yaml")
        events = stream.until("run_finish")
        assert run.wait(timeout=30) == 0
    finally:
        stream.close()
    names = [(record["event"], record.get("step")) for _, record in events]
    assert names == [("run_start", None), ("step_start", "first"), ("step_finish", "first"),
                     ("step_start", "second"), ("step_finish", "second"), ("step_start", "third"),
                     ("step_finish", "third"), ("run_finish", None)]
    ids = [event_id for event_id, _ in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {record["run"] for _, record in events} == {events[0][1]["run"]}
    assert events[0][1]["schema"] == "orch.event/1" and events[-1][1]["status"] == "ok"
    assert events[2][1]["line"] == {"status": "ok", "outputs": ["note.text_v1"], "step": "first",
                                    "metrics": events[2][1]["line"]["metrics"]}

    resumed = EventReader(url + f"api/events?run={events[0][1]['run']}", {"Last-Event-ID": str(ids[4])})
    try:
        assert [resumed.next()[0] for _ in range(3)] == ids[5:]
    finally:
        resumed.close()


def test_a_write_made_while_a_recipe_runs_is_seen_by_a_later_step(project, env, orch_server):
    url = orch_server(env=env).url
    stream = EventReader(url + "api/events")
    run = start_run(project, env, "gated.yaml")
    try:
        started = stream.until("step_start")
        run_id = started[-1][1]["run"]
        status, snapshot = call(url + f"api/runs/{run_id}")
        assert [(s["step"], s["status"]) for s in snapshot["steps"]] == [("wait", "running"), ("echo", "pending")]
        status, answer = call(url + f"api/runs/{run_id}/context/client.note_v1", "PUT",
                              {"value": "written while running", "who": "operator"})
        assert status == 201 and answer["run_status"] == "running"
        (project / "gate").touch()
        out, err = run.communicate(timeout=30)
    finally:
        stream.close()
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["step"] for line in lines] == ["wait", "echo"]  # stdout holds only the steps' lines
    assert call(url + f"api/runs/{run_id}/context/echo.seen_v1")[1]["value"] == "written while running"
    key = call(url + f"api/runs/{run_id}/context/client.note_v1")[1]
    assert (key["who"], key["step"]) == ("operator", None)


def recorded(url: str) -> dict | None:
    """The latest run, once the run has been recorded (the server starts just before)."""
    status, document = call(url + "api/runs/latest")
    return document if status == 200 else None


def test_orch_run_serve_serves_while_running_and_stops_with_the_run(project, env):
    def served_run(*extra: str) -> tuple[subprocess.Popen, str, Path]:
        log = project / f"run-{len(extra)}.log"
        with open(log, "w") as err:
            process = subprocess.Popen([orch_executable(), "run", "gated.yaml", "--serve", *extra], cwd=project,
                                       env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=err, text=True)
        return process, wait_for_url(log, process), log

    gate = project / "gate"
    process, url, _ = served_run()
    try:
        run = wait_until(lambda: recorded(url), what="the run in the store")
        assert run["run"]["status"] == "running" and run["run"]["pid"] == process.pid
        gate.touch()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "healthz", timeout=5)

    gate.unlink()
    process, url, log = served_run("--port", "0")
    try:
        wait_until(lambda: (recorded(url) or {"steps": [{}]})["steps"][0].get("status") == "running",
                   what="a running step")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "healthz", timeout=5)
    assert "interrupted" in log.read_text()


def test_serve_refuses_a_port_in_use_and_run_serve_needs_the_state_plugin(project, env, orch_cli, orch_server):
    port = urlsplit(orch_server(env=env).url).port
    busy = orch_cli("serve", "--port", str(port), env=env)
    assert busy.exit_code == 2 and "cannot listen" in busy.err and "Traceback" not in busy.err
    unrecorded = orch_cli("-p", "no:state", "run", "quick.yaml", "--serve", env=env)
    assert unrecorded.exit_code == 2 and "no:state" in unrecorded.err


def test_stop_ends_streams_and_keep_alive_connections_and_joins_every_thread(project, env, orch_cli, monkeypatch):
    from orchestrator_core.server import httpserver
    from orchestrator_core.server.httpserver import start_server

    # A thread the first round of stop does not end is waited for this long before the second: far
    # more than a loaded machine takes to stop, so the time stop takes tells which round ended them.
    monkeypatch.setattr(httpserver, "JOIN_DEADLINE_S", 30.0)
    orch_cli("run", "quick.yaml", env=env).assert_success()
    before = set(threading.enumerate())
    server = start_server(project / ".orch", port=0)
    stream = EventReader(server.url + "api/events?after=0")
    assert stream.next()[1]["event"] == "run_start"
    parts = urlsplit(server.url)
    idle = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    idle.request("GET", "/api/runs")
    assert idle.getresponse().read()  # the connection stays open (keep-alive), its thread waiting
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 10  # the first round (SHUT_RD) woke the idle keep-alive reader
    stream.thread.join(5)
    assert not stream.thread.is_alive()  # the stream ended
    left = [t for t in set(threading.enumerate()) - before if t is not stream.thread]
    assert left == []
    idle.close()


def test_hook_orch_external_writes_reaches_the_steps_that_start_after(orch_pm, register_plugin, run_orch_recipe,
                                                                     project):
    import sys

    sys.path.insert(0, str(project))
    try:
        class Inbox:
            def __init__(self):
                self.calls = 0

            @hookimpl
            def orch_external_writes(self, run):
                self.calls += 1
                if self.calls == 2:  # before the second step starts
                    return [Write("client.note_v1", "from the inbox", "inbox", None, run.id, "t")]
                return None

        inbox = register_plugin(Inbox(), "inbox")
        outcome = run_orch_recipe("""
            name: inbox
            steps:
              - {name: one, module: serve_steps, function: Echo, params: {key: client.note_v1}}
              - {name: two, module: serve_steps, function: Echo, params: {key: client.note_v1}}
        """, config={"state_dir": project / "state"})
    finally:
        sys.path.remove(str(project))
    assert outcome.error is None
    assert inbox.calls == 3  # before each step, and once after the last
    assert outcome.result.steps["two"].delta[0].value == "from the inbox"
    assert outcome.result.steps["one"].delta[0].value is None
    assert outcome.context["client.note_v1"] == "from the inbox"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_orch_serve_stops_cleanly_on_sigterm_and_on_a_closed_terminal(orch_server, signum):
    served = orch_server()
    with urllib.request.urlopen(served.url + "healthz", timeout=10) as answer:
        assert answer.status == 200
    served.process.send_signal(signum)
    assert served.process.wait(timeout=15) == 0  # stopped as Ctrl-C stops it, not killed by the signal
    log = served.log.read_text()
    assert "orch serve: stopped" in log and "Traceback" not in log
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(served.url + "healthz", timeout=5)


def test_orch_serve_takes_sigterm_before_it_prints_its_url(project, monkeypatch):
    """Whoever waits for the URL may stop the server at once: a SIGTERM sent as soon as it is printed
    stops the server as Ctrl-C does (before, the signal could come first and kill it outright)."""
    import click

    from orchestrator_core.cli import serve as serve_module

    printed: list[str] = []
    taken: dict[int, object] = {}

    def echo(message: str, err: bool = False) -> None:
        printed.append(message)
        if "listening on" in message:
            taken.update({signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)})
            # The signal itself when orch takes it; not when it does not: it would end this test's process.
            assert taken[signal.SIGTERM] is serve_module._sigterm_as_interrupt, "the URL came before SIGTERM was taken"
            os.kill(os.getpid(), signal.SIGTERM)

    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    monkeypatch.setattr(click, "echo", echo)
    serve_module.serve.main(["--port", "0", "--state-dir", str(project / ".orch")], standalone_mode=False)
    assert taken == dict.fromkeys((signal.SIGTERM, signal.SIGHUP), serve_module._sigterm_as_interrupt)
    assert printed[-1] == "orch serve: stopped"
    assert {signum: signal.getsignal(signum) for signum in before} == before  # given back
    url = printed[0].split()[4]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "healthz", timeout=5)
