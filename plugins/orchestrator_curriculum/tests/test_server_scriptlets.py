"""The curriculum's server steps: real clients of a real context server, stopped with the run."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request

from orchestrator_curriculum.steps.demo_update_state import DemoUpdateState
from orchestrator_curriculum.steps.start_context_server_v2 import StartContextServerV2


def unreachable(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "healthz", timeout=5)
    except urllib.error.URLError:
        return True
    return False


def server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("orch-serve")]


def test_example_ctx_writes_through_the_server_and_the_run_sees_the_keys(orch_cli):
    outcome = orch_cli("run", "example_ctx").assert_success()
    assert [line["step"] for line in outcome.lines] == ["start_context_server_v2", "demo_update_state",
                                                        "publish_stats"]
    context = json.loads(orch_cli("context", "show", "--json").assert_success().out)
    url = context["context_server.url_v1"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url) and url in outcome.err
    assert context["context_server.status_v1"]["started_by"] == "step"
    assert context["context_server.status_v1"]["healthy"] is True
    assert context["demo_update_state.greeting_v1"] == "hello from a context server client"
    assert context["demo_update_state.ack_v1"]["verified"] is True
    # publish_stats ran after the client's writes were merged: it read both keys
    ack = context["publish_stats.ack_v1"]
    assert ack["published"] == ["demo_update_state.counter_v1", "demo_update_state.greeting_v1"]
    assert context["publish_stats.stats_v1"]["values"]["demo_update_state.counter_v1"] == 1
    history = json.loads(orch_cli("context", "show", "demo_update_state.greeting_v1", "--history",
                                  "--json").assert_success().out)
    assert [(h["who"], h["step"]) for h in history] == [("demo_update_state", None)]
    assert unreachable(url)  # stopped with the run


def test_09_dashboard_with_serve_reuses_the_server_and_publishes_the_metrics(orch_cli):
    outcome = orch_cli("run", "09_dashboard", "--serve").assert_success()
    context = json.loads(orch_cli("context", "show", "--json").assert_success().out)
    status = context["context_server.status_v1"]
    assert status["started_by"] == "--serve"
    assert outcome.err.count("serving run") == 1 and status["url"] in outcome.err
    published = context["publish_stats.stats_v1"]
    assert published["values"]["metrics.aggregate_v1"] == context["metrics.aggregate_v1"]
    assert published["missing"] == []
    assert unreachable(status["url"])


def test_the_server_a_step_started_stops_when_the_run_fails(curriculum_pm, run_orch_recipe):
    outcome = run_orch_recipe("""
        name: failing_with_server
        steps:
          - {name: start_context_server_v2, uses: start_context_server_v2}
          - {name: inject_failure, uses: inject_failure}
    """)
    assert outcome.error is not None and outcome.result.steps["inject_failure"].status == "error"
    url = outcome.context["context_server.url_v1"]
    assert unreachable(url) and server_threads() == []


def test_server_steps_alone_fail_with_a_reason(run_step):
    alone = run_step(StartContextServerV2)
    assert alone.error and "not running in this process" in alone.error["reason"]
    client = run_step(DemoUpdateState)
    assert client.error["reason"].startswith("No context server")
    bad = run_step(DemoUpdateState, {"updates": {"_runner.x_v1": 1}}, {"context_server.url_v1": "http://127.0.0.1:9/"})
    assert "Bad param" in bad.error["reason"]


def test_a_write_the_server_refuses_is_the_steps_error(curriculum_pm, run_orch_recipe):
    outcome = run_orch_recipe("""
        name: refused
        steps:
          - {name: start_context_server_v2, uses: start_context_server_v2}
          - name: demo_update_state
            uses: demo_update_state
            params: {updates: {demo_update_state.big_v1: "%s"}}
    """ % ("x" * (1024 * 1024 + 10)))
    error = outcome.result.steps["demo_update_state"].error
    assert error["details"].get("status") == 413, error
    assert error["details"]["status"] == 413 and "refused" in error["reason"]
    assert server_threads() == []
