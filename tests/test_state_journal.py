"""Step starts reach the events journal with the next transaction, or on their own after a short wait."""

from __future__ import annotations

import sqlite3
import time

from orchestrator_core.state.journal import StartJournal
from orchestrator_core.state.store import StateStore


def journaled(store: StateStore) -> list[str]:
    return [data for _, data in store.events_after(0)]


def test_a_start_goes_out_with_the_next_transaction_ahead_of_its_events(tmp_path):
    store = StateStore.open(tmp_path)
    journal = StartJournal(store, delay_s=60, on_error=lambda exc: None)
    try:
        journal.add(("r", "step_start", "start a"))
        journal.add(("r", "step_start", "start b"))
        assert journaled(store) == []  # waiting: no transaction of its own yet
        with journal.commit_lock:
            store.record_events([*journal.take(), ("r", "step_finish", "finish a")])
        assert journaled(store) == ["start a", "start b", "finish a"]
    finally:
        journal.close()
        store.close()


def test_a_start_with_no_transaction_to_ride_is_committed_after_the_delay(tmp_path):
    store = StateStore.open(tmp_path)
    journal = StartJournal(store, delay_s=0.02, on_error=lambda exc: None)
    try:
        journal.add(("r", "step_start", "start long"))
        deadline = time.monotonic() + 5
        while not journaled(store) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert journaled(store) == ["start long"]
        journal.add(("r", "step_start", "start next"))  # the thread, idle again, wakes for it
        while len(journaled(store)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert journaled(store) == ["start long", "start next"]
    finally:
        journal.close()
        store.close()
    assert journal._thread is not None and not journal._thread.is_alive()


def test_a_failed_commit_is_reported_not_raised(tmp_path):
    store = StateStore.open(tmp_path)
    errors: list[Exception] = []
    journal = StartJournal(store, delay_s=0.01, on_error=errors.append)
    store.conn.execute("DROP TABLE events")
    try:
        journal.add(("r", "step_start", "start"))
        deadline = time.monotonic() + 5
        while not errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert errors and isinstance(errors[0], sqlite3.Error)
    finally:
        journal.close()
        store.close()


def test_a_start_after_finishes_not_yet_recorded_waits_for_them(tmp_path):
    store = StateStore.open(tmp_path)
    committed = [0]  # finished steps of the run already in the store
    journal = StartJournal(store, delay_s=0.01, on_error=lambda exc: None, committed=lambda: committed[0])
    try:
        journal.add(("r", "step_start", "start a"), after=0)
        journal.add(("r", "step_start", "start b"), after=1)  # a had finished; its group is not committed
        deadline = time.monotonic() + 5
        while not journaled(store) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # several more looks of the thread
        assert journaled(store) == ["start a"]  # b's start never goes ahead of a's finish
        with journal.commit_lock:
            placed = journal.take_placed()
            store.record_events([("r", "step_finish", "finish a"), *(event for _, event in placed)])
            committed[0] = 1
        assert placed == [(1, ("r", "step_start", "start b"))]
        assert journaled(store) == ["start a", "finish a", "start b"]
    finally:
        journal.close()
        store.close()
