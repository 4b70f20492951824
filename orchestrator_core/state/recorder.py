"""The built-in plugin ``state``: records every run in the state store as it happens.

Through the lifecycle hooks only, like any reporter: the run and the context it
starts with when it starts, each step's result together with the writes of its delta
in one transaction when it ends, the status when the run ends. So a run killed
half-way leaves every finished step, and the keys those steps wrote, in the store.

With a cacheable step's result it keeps the inputs of the step's fingerprint
(``result.fingerprint``), the last one for each step; ``orch why`` compares against them.

Each run's lifecycle events (the ``orch.event/1`` records of ``--events``) go into the
store's ``events`` journal, in the transaction of what they report (a step's start with
the next transaction, or on its own if none comes soon: journal.py), which ``orch
serve`` streams to dashboards; step events only while a server watches the store
(listeners.py), since they cost a run about as much again as recording its steps. And
it answers
``orch_external_writes``: the writes clients made to the running run through
``orch serve``, recorded in the store, which the runner pulls before each step.

Blocking it (``-p no:state``) runs without recording, at the cost of resuming
(``--resume-from``, ``--only``) from what earlier runs recorded. ``sqlite3`` is
imported when a run starts, not when ``orch`` does.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .._markers import hookimpl
from ..builtin import events
from ..errors import OrchError
from ..model import Write
from .journal import StartJournal
from .listeners import ListenerCheck

if TYPE_CHECKING:
    from .store import StateStore, WriteRow

logger = logging.getLogger("orchestrator.state")

RUNNER_KEY = "_runner.step_metrics_v1"


class StateStoreError(OrchError):
    """The state store cannot be opened, so the run would go unrecorded: nothing runs."""

    exit_code = 2


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _event(record: dict[str, Any]) -> tuple[str, str, str]:
    """A row of the events journal: run, event name, the record as JSON."""
    return (record["run"], record["event"], _json(record))


class StateRecorder:
    """Writes one run at a time to the store in the run's ``config.state_dir``.

    The connection stays open after a run, for the next run in the same process (a
    notebook, a test session, ``orch serve``): closing a SQLite database in WAL mode
    checkpoints it, which costs milliseconds per run. It is closed when the recorder
    is collected or the interpreter exits, or when a run uses another state directory.
    """

    def __init__(self) -> None:
        self.store: StateStore | None = None  # the store of the run in progress
        self._connection: StateStore | None = None  # kept open between runs
        self._closer: weakref.finalize | None = None
        self._written: set[str] = set()  # keys some step of this run wrote
        self._pulled = 0  # id of the last external write pulled into the run's context
        self._seen_version: int | None = None  # the store's data_version at the last pull
        self._journal: StartJournal | None = None  # step starts on their way to the store
        self._watched: Callable[[], bool] = lambda: False  # is a server watching (journal step events)?

    @hookimpl
    def orch_run_start(self, run: Any) -> None:
        import sqlite3

        from .store import RunRecord, StateStore

        self._written = set()
        self._pulled = 0
        self._seen_version = None
        try:
            self.store = self._connect(StateStore, run.config.state_dir)
        except (sqlite3.Error, OSError) as exc:
            raise StateStoreError(
                f"cannot open the state store in {run.config.state_dir}: {exc} "
                "(choose another place with --state-dir, or run unrecorded with -p no:state)"
            ) from None
        record = RunRecord(run.id, run.recipe.name, run.recipe.path, run.recipe.digest, run.started, None,
                           "running", dict(run.flags, plan=[s.name for s in run.plan]), run.pid)
        self.store.start_run(record, list(self._initial_writes(run)), _event(events.run_start_event(run)))
        self._journal = StartJournal(self.store, on_error=lambda exc: logger.error(
            "state store: step starts of run %s were not recorded: %s", run.id, exc))
        self._watched = ListenerCheck(run.config.state_dir)

    def _connect(self, store_class: Any, state_dir: Any) -> StateStore:
        """The open connection when it is to the database in ``state_dir``, else a new one."""
        if self._connection is not None and self._connection.is_at(state_dir):
            return self._connection
        self._disconnect()
        self._connection = store_class.open(state_dir)
        self._closer = weakref.finalize(self, self._connection.close)
        return self._connection

    def _disconnect(self) -> None:
        if self._closer is not None:
            self._closer()  # closes the connection, once
        self._connection = self._closer = None

    @staticmethod
    def _initial_writes(run: Any) -> Iterator[WriteRow]:
        """The writes the run's context starts with: carried over, from the recipe, from ``--set``."""
        for key in run.context.keys():
            for write in run.context.history(key):
                origin = write["run"] if write["run"] not in (None, run.id) else None
                yield (run.id, key, _json(write["value"]), write["who"], write["step"], write["ts"], origin)

    @hookimpl
    def orch_before_step(self, run: Any, step: Any) -> None:
        if self._journal is not None and self._watched():
            self._journal.add(_event(events.step_start_event(run, step)))

    @hookimpl
    def orch_external_writes(self, run: Any) -> list[Write] | None:
        if self.store is None:
            return None
        try:
            version = self.store.data_version()
            if version == self._seen_version:
                return None  # no other connection committed anything since the last pull
            self._seen_version = version
            found = self.store.external_writes(run.id, self._pulled)
        except self.store.Error as exc:
            logger.error("state store: writes made to run %s from outside were not read: %s", run.id, exc)
            return None
        if not found:
            return None
        self._pulled = found[-1][0]
        return [Write(key, value, who, None, run.id, ts) for _, key, value, who, ts in found]

    @hookimpl
    def orch_after_step(self, run: Any, step: Any, result: Any) -> None:
        self._record(run, step, result, lambda: events.step_finish_event(run, step, result))

    @hookimpl
    def orch_on_step_error(self, run: Any, step: Any, result: Any, error: dict[str, Any]) -> None:
        self._record(run, step, result, lambda: events.step_error_event(run, step, result, error))

    def _record(self, run: Any, step: Any, result: Any, event: Callable[[], dict[str, Any]]) -> None:
        store, journal = self.store, self._journal
        if store is None or journal is None:
            return
        metrics = result.metrics
        row = (run.id, step.name, result.status, _json(result.error) if result.error is not None else None,
               metrics.get("duration_ms"), metrics.get("cpu_ms"), metrics.get("peak_rss_kb"), result.cache,
               result.attempts, result.executor, time.time())
        writes: list[WriteRow] = []
        fingerprint = None
        if result.ok and result.delta:
            writes = [(run.id, w.key, _json(w.value), w.who, w.step, w.ts, None) for w in result.delta]
            writes += self._merged(run, result)
            self._written.update(w.key for w in result.delta)
        noted = getattr(result, "fingerprint", None)
        if result.ok and noted is not None:
            fingerprint = (run.recipe.name, step.name, noted.key, _json(noted.inputs), run.id, time.time())
        try:
            finished = [_event(event())] if self._watched() else []
            with journal.commit_lock:
                store.record_step(row, writes, fingerprint, [*journal.take(), *finished])
        except store.Error as exc:
            logger.error("state store: step %r of run %s was not recorded: %s", step.name, run.id, exc)

    def _merged(self, run: Any, result: Any) -> list[WriteRow]:
        """A row with the merged value of each key another step of this run wrote first.

        Only then can the value in the context differ from what this step wrote
        (``orch_merge_context`` decided it), and the store must end on the context's value.
        """
        rows: list[WriteRow] = []
        last = {w.key: w for w in result.delta}
        for key, write in last.items():
            if key in self._written:
                value = run.context.get(key)
                if value != write.value:
                    rows.append((run.id, key, _json(value), "merge", None, write.ts, None))
        return rows

    @hookimpl
    def orch_run_finish(self, run: Any) -> None:
        journal, self._journal = self._journal, None
        if self.store is None or journal is None:
            return
        writes: list[WriteRow] = []
        history = run.context.history(RUNNER_KEY) if RUNNER_KEY in run.context else []
        if history:
            last = history[-1]
            writes.append((run.id, RUNNER_KEY, _json(last["value"]), last["who"], None, last["ts"], None))
        journal.close()
        try:
            with journal.commit_lock:
                self.store.finish_run(run.id, run.status, run.finished or time.time(), writes,
                                      [*journal.take(), _event(events.run_finish_event(run))])
        except self.store.Error as exc:
            logger.error("state store: the end of run %s was not recorded: %s", run.id, exc)
            self._disconnect()
        finally:
            self.store = None
