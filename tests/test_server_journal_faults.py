"""The event streams' one thread against what it must outlive: journal rows that are not events
(another program wrote the store), and an unexpected error in one of its rounds.

Either used to end the thread, and with it every open stream of the server. The first test
runs a real ``orch serve`` and writes the bad rows with ``sqlite3``, as a user would; the
second runs the real server in this process so a fault can be injected into its store reads.
Both read the streams over raw sockets (the hostile tests' reader) and run real ``orch run``s.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

# The hostile tests' project (their scriptlets and quick recipe), their stream reader and helpers.
from test_server_hostile import EventStream, env, open_stream, port_of, project  # noqa: F401 - fixtures

FINISH = b'"event":"run_finish"'


def journal(project: Path) -> list[int]:
    with sqlite3.connect(project / ".orch" / "state.db") as db:
        return [row[0] for row in db.execute("SELECT id FROM events ORDER BY id")]


def test_a_journal_row_that_is_not_an_event_is_skipped_logged_once_and_the_streams_go_on(project, env, orch_cli,
                                                                                        orch_server):
    orch_cli("run", "quick.yaml", env=env).assert_success()
    served = orch_server(env=env)
    port = port_of(served.url)
    live = EventStream(open_stream(port))
    journaled = journal(project)[-1]  # the live stream starts after this
    orch_cli("run", "quick.yaml", env=env).assert_success()
    first = live.until(FINISH)  # the stream is live: the hub reads the journal past this run

    with sqlite3.connect(project / ".orch" / "state.db") as db:
        bad = [db.execute("INSERT INTO events (run, event, data) VALUES ('x', 'weird', ?)", (data,)).lastrowid
               for data in ("not json at all", "[1,2]", "null", '"text"', "")]
        multi_line = db.execute("INSERT INTO events (run, event, data) VALUES ('x', 'multi', ?)",
                                ('{\n  "schema": "orch.event/1",\n  "event": "multi",\n  "run": "x"\n}',)).lastrowid
    orch_cli("run", "quick.yaml", env=env).assert_success()
    after = live.until(FINISH)
    ids = journal(project)
    assert [event_id for event_id, _ in first + after] == [i for i in ids if i > journaled and i not in bad]
    assert (after[0][0], after[0][1]["event"]) == (multi_line, "multi")  # one event, though its text had lines
    assert after[-1][1]["status"] == "ok"

    replay = EventStream(open_stream(port, "/api/events?after=0"))  # read from the store, not the live poll
    replayed = [event for _ in range(3) for event in replay.until(FINISH)]
    assert [event_id for event_id, _ in replayed] == [i for i in ids if i not in bad]

    log = served.log.read_text()
    for event_id in bad:  # met by the live poll and by the replay: logged once
        assert log.count(f"journal row {event_id} of ") == 1, log
    assert f"journal row {bad[0]} of {project / '.orch' / 'state.db'} is skipped: its data is not JSON" in log
    assert f"journal row {bad[1]} of {project / '.orch' / 'state.db'} is skipped: its data is JSON, but not " \
           f"an object (list)" in log
    assert "Traceback" not in log and "unexpected error" not in log
    assert served.process.poll() is None


def test_an_unexpected_error_in_the_streams_thread_is_logged_once_and_ends_no_stream(project, env, orch_cli,
                                                                                    monkeypatch, caplog):
    from orchestrator_core.server.httpserver import start_server
    from orchestrator_core.state.reader import StoreReader

    orch_cli("run", "quick.yaml", env=env).assert_success()
    failures = {"left": 0}
    real = StoreReader.events_after

    def events_after(self, *args, **kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("an injected fault")  # not a database error: nothing expects it
        return real(self, *args, **kwargs)

    monkeypatch.setattr(StoreReader, "events_after", events_after)
    server = start_server(project / ".orch", port=0)
    try:
        live = EventStream(open_stream(port_of(server.url)))
        replay = EventStream(open_stream(port_of(server.url), "/api/events?after=0"))
        orch_cli("run", "quick.yaml", env=env).assert_success()
        live.until(FINISH)
        replay.until(FINISH)  # the run before the server started,
        replay.until(FINISH)  # and the one just made: the replay is live too
        with caplog.at_level(logging.WARNING, logger="orchestrator.server"):
            failures["left"] = 5  # five rounds in a row fail
            deadline = time.monotonic() + 10
            while failures["left"] and time.monotonic() < deadline:
                time.sleep(0.01)
            assert failures["left"] == 0
            orch_cli("run", "quick.yaml", env=env).assert_success()
            after = live.until(FINISH)
            replayed = replay.until(FINISH)
        assert after[-1][1]["status"] == "ok" and [e[0] for e in after] == [e[0] for e in replayed]
        errors = [r for r in caplog.records if "an injected fault" in r.getMessage()]
        assert len(errors) == 1 and errors[0].levelno == logging.ERROR and errors[0].exc_info
        assert "unexpected error (the streams stay open): RuntimeError: an injected fault" in errors[0].getMessage()
    finally:
        server.stop()
