"""Runs journal their step events only while a server watches the state store."""

from __future__ import annotations

import subprocess
import sys

from orchestrator_core.state import listeners
from orchestrator_core.state.store import StateStore

CHAIN = """
steps:
  - {name: a, uses: write_keys, params: {values: {t.a_v1: 1}}}
  - {name: b, uses: write_keys, params: {values: {t.b_v1: 2}}}
"""


def journaled_events(state_dir) -> list[str]:
    store = StateStore.open(state_dir)
    try:
        return [event for (event,) in store.conn.execute("SELECT event FROM events ORDER BY id")]
    finally:
        store.close()


def test_an_unwatched_run_journals_only_its_start_and_finish(sample_pm, run_orch_recipe, tmp_path):
    run_orch_recipe(CHAIN)
    assert journaled_events(tmp_path / ".orch") == ["run_start", "run_finish"]


def test_a_watched_run_journals_every_step(sample_pm, run_orch_recipe, tmp_path):
    marker = listeners.register(tmp_path / ".orch", 8080)  # this process stands for the server
    try:
        run_orch_recipe(CHAIN)
    finally:
        listeners.unregister(marker)
    assert journaled_events(tmp_path / ".orch") == [
        "run_start", "step_start", "step_finish", "step_start", "step_finish", "run_finish"]
    assert not marker.exists()


def test_a_listener_whose_process_is_gone_does_not_count(tmp_path):
    check = listeners.ListenerCheck(tmp_path)
    assert not check()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / listeners.DIRECTORY).mkdir()
    (tmp_path / listeners.DIRECTORY / f"{gone}-9999").write_text("9999\n")
    (tmp_path / listeners.DIRECTORY / "not-a-pid").write_text("")
    assert not listeners.ListenerCheck(tmp_path)()
    listeners.register(tmp_path, 1234)
    assert listeners.ListenerCheck(tmp_path)()
