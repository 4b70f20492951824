"""The built-in plugin ``state``: records every run in the state store as it happens.

Through the lifecycle hooks only, like any reporter: the run and the context it
starts with when it starts, the steps that finished (``orch_record_steps``: a group at a
time, each step's result with the writes of its delta, in one transaction) before any
reporter hears of them, the status when the run ends. So a run killed half-way leaves
every step it reported as finished, and the keys those steps wrote, in the store
(docs/state.md, "Group commit").

With a cacheable step's result it keeps the inputs of the step's fingerprint
(``result.fingerprint``), the last one for each step; ``orch why`` compares against them.

Each run's lifecycle events (the ``orch.event/1`` records of ``--events``) go into the
store's ``events`` journal, in the transaction of what they report (a step's start with
the next transaction, or on its own if none comes soon: journal.py), which ``orch
serve`` streams to dashboards; step events only while a server watches the store
(listeners.py), since they cost a run about as much again as recording its steps. And
it answers
``orch_external_writes``: the writes clients made to the running run through
``orch serve``, recorded in the store, which the runner pulls before each step (looking
costs one ``PRAGMA data_version`` while nobody else commits).

A run whose recording fails is not a success: when a step's result cannot be
written (a full disk, a store made read-only, or deleted under the run) the run
stops with a :class:`~.faults.RecordingError` naming the cause, recorded as
``error`` where the store still takes that. The runner reports a group only once
``orch_record_steps`` returned, so every step a reporter printed as done is in the store.
While the run runs its process holds the run's lock (:mod:`.liveness`).

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

from orchestrator_core._markers import hookimpl
from orchestrator_core.builtin import events
from orchestrator_core.errors import utc_timestamp
from orchestrator_core.model import METRICS_KEY, Write
from orchestrator_core.state.faults import RecordingError, StateStoreError, cause, store_error
from orchestrator_core.state.journal import StartJournal
from orchestrator_core.state.listeners import ListenerCheck
from orchestrator_core.state.liveness import RunLock

if TYPE_CHECKING:
    from orchestrator_core.state.store import EventRow, StateStore, WriteRow

logger = logging.getLogger("orchestrator.state")

RUNNER_KEY = METRICS_KEY
OPEN_HINT = "choose another place with --state-dir, or run unrecorded with -p no:state"

__all__ = ["StateRecorder", "StateStoreError", "RecordingError"]


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
        self._written: set[str] = set()  # keys some step of this run wrote, or carried over from an earlier run
        self._pulled = 0  # id of the last external write pulled into the run's context
        self._seen_version: int | None = None  # the store's data_version at the last pull
        self._journal: StartJournal | None = None  # step starts on their way to the store
        self._watched: Callable[[], bool] = lambda: False  # is a server watching (journal step events)?
        self._lock: RunLock | None = None  # held while the run runs: how others know it is alive
        self._recorded: list[str] = []  # steps of this run recorded so far
        self._recorded_names: set[str] = set()  # the same, to look up
        self._fingerprint_keys: dict[str, str] | None = None  # step -> key of its recorded fingerprint
        self._base = 0  # results the run had before its first step finished (none, unless a plugin added some)

    @hookimpl(tryfirst=True)  # recorded before it is announced: a run the store refuses is not shown as one
    def orch_run_start(self, run: Any) -> None:
        import sqlite3

        from orchestrator_core.state.store import RunRecord, StateStore

        self._written = set()
        self._pulled = 0
        self._seen_version = None
        self._recorded = []
        self._recorded_names = set()
        self._fingerprint_keys = None
        self._base = len(run.results)
        self._release()  # a run before this one that never reached its end (a plugin raised) is over
        self.store = self._connect(StateStore, run.config.state_dir)
        record = RunRecord(run.id, run.recipe.name, run.recipe.path, run.recipe.digest, run.started, None,
                           "running", dict(run.flags, plan=[s.name for s in run.plan]), run.pid)
        try:
            self._lock = RunLock.acquire(run.config.state_dir, run.id)
            initial = list(self._initial_writes(run))
            self.store.start_run(record, initial, _event(events.run_start_event(run)))
            # A carried key holds what steps of an earlier run wrote: a step's plain write may merge with it
            self._written = {row[1] for row in initial if row[6] is not None}
        except (sqlite3.Error, OSError) as exc:
            path, self.store = self.store.path, None
            self._release()
            self._disconnect()
            raise StateStoreError(f"cannot record the run in the {store_error(exc, path, hint=OPEN_HINT)}") from None
        self._journal = StartJournal(self.store, on_error=lambda exc: logger.error(
            "state store: step starts of run %s were not recorded: %s", run.id, exc),
            committed=lambda: self._base + len(self._recorded))
        self._watched = ListenerCheck(run.config.state_dir)

    def _connect(self, store_class: Any, state_dir: Any) -> StateStore:
        """The open connection when it is to the database in ``state_dir``, else a new one."""
        if self._connection is not None and self._connection.is_at(state_dir):
            return self._connection
        self._disconnect()
        try:
            self._connection = store_class.open(state_dir)
        except StateStoreError as exc:
            if exc.damaged:
                raise
            raise StateStoreError(f"cannot open the {exc}; {OPEN_HINT}") from None
        self._closer = weakref.finalize(self, self._connection.close)
        return self._connection

    def _disconnect(self) -> None:
        if self._closer is not None:
            self._closer()  # closes the connection, once
        self._connection = self._closer = None

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    @staticmethod
    def _initial_writes(run: Any) -> Iterator[WriteRow]:
        """The writes the run's context starts with: carried over, from the recipe, from ``--set``."""
        for key in run.context.keys():
            for write in run.context.history(key):
                origin = write["run"] if write["run"] not in (None, run.id) else None
                yield (run.id, key, _json(write["value"]), write["who"], write["step"], write["ts"], origin,
                       write["op"])

    @hookimpl
    def orch_before_step(self, run: Any, step: Any) -> None:
        if self._journal is not None and self._watched():
            self._journal.add(_event(events.step_start_event(run, step)), after=len(run.results))

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
        except (self.store.Error, StateStoreError) as exc:
            logger.error("state store: writes made to run %s from outside were not read: %s", run.id, exc)
            return None
        if not found:
            return None
        self._pulled = found[-1][0]
        unrecorded = self._unrecorded_keys(run)
        return [Write(key, value, who, None, run.id, ts) for _, key, value, who, ts in found
                if key not in unrecorded] or None

    def _unrecorded_keys(self, run: Any) -> set[str]:
        """Keys written by steps of the run that finished but are not recorded yet.

        Their rows go into the store after a client's write found now, so in the store
        their value stands: the run's context keeps it too, instead of pulling the
        client's (the rule of docs/state.md, "Writes from outside a run").
        """
        waiting = list(run.results.values())[self._base + len(self._recorded):]
        return {w.key for result in waiting if result.ok for w in result.delta}

    @hookimpl
    def orch_record_steps(self, run: Any, finished: list[tuple[Any, Any, float]]) -> None:
        """Record a group of finished steps in one transaction; the runner reports them once it returns."""
        store, journal = self.store, self._journal
        if store is None or journal is None:
            return
        if not self._recorded_names.isdisjoint(step.name for step, _, _ in finished):
            # The runner hands a group again when Ctrl-C came while it was recorded or reported:
            # what was committed then is not written twice.
            finished = [entry for entry in finished if entry[0].name not in self._recorded_names]
        results: list[tuple] = []
        writes: list[WriteRow] = []
        fingerprints: list[tuple] = []
        finish_events: list[EventRow | None] = []
        watched = self._watched()
        last_writer = {w.key: i for i, (_, result, _) in enumerate(finished) if result.delta and result.ok
                       for w in result.delta}
        for i, (step, result, when) in enumerate(finished):
            metrics = result.metrics
            results.append((run.id, step.name, result.status,
                            _json(result.error) if result.error is not None else None, metrics.get("duration_ms"),
                            metrics.get("cpu_ms"), metrics.get("peak_rss_kb"), result.cache, result.attempts,
                            result.executor, when))
            if result.ok and result.delta:
                writes += [(run.id, w.key, _json(w.value), w.who, w.step, w.ts, None, w.op) for w in result.delta]
                writes += self._merged(run, result, last_writer, i)
                self._written.update(w.key for w in result.delta)
            noted = getattr(result, "fingerprint", None)
            if result.ok and noted is not None and self._fingerprint_changed(store, run, step.name, noted.key):
                fingerprints.append((run.recipe.name, step.name, noted.key, _json(noted.inputs), run.id, when))
            finish_events.append(_event(_finish_event(run, step, result, when)) if watched else None)
        names = [step.name for step, _, _ in finished]
        try:
            with journal.commit_lock:
                first = self._base + len(self._recorded) + 1  # the place of the group's first step among the finished
                store.record_steps(results, writes, fingerprints,
                                   _in_order(journal.take_placed(), finish_events, first))
                self._recorded += names
                self._recorded_names.update(names)
                if self._fingerprint_keys is not None:
                    self._fingerprint_keys.update((row[1], row[2]) for row in fingerprints)
        except store.Error as exc:
            self._stop(run, f"{_names(names)} could not be recorded in the state store {store.path}: {cause(exc)}")
        if not store.still_there():
            self._stop(run, f"the state store {store.path} was deleted or replaced during the run: "
                            f"{_names(self._recorded)} finished but nothing of the run is recorded")

    def _fingerprint_changed(self, store: StateStore, run: Any, step: str, key: str) -> bool:
        """Whether ``step``'s fingerprint ``key`` differs from the one recorded (then it is written).

        A cache hit carries the fingerprint it was found by, nearly always the one already
        recorded: rewriting that row (its inputs as JSON) cost more than the rest of
        recording the hit. The recorded keys of the recipe are read once a run.
        """
        if self._fingerprint_keys is None:
            try:
                self._fingerprint_keys = store.fingerprint_keys(run.recipe.name)
            except StateStoreError:
                self._fingerprint_keys = {}  # write them all: recording the group reports what is wrong
        return self._fingerprint_keys.get(step) != key

    def _stop(self, run: Any, reason: str) -> None:
        """End the run because recording failed: record it as ``error`` if the store still takes that."""
        store, journal = self.store, self._journal
        self.store, self._journal = None, None
        assert store is not None and journal is not None
        journal.close()
        there = store.still_there()
        marked = False
        if there:
            with journal.commit_lock:
                marked = self._mark_error(store, run)
        self._release()
        self._disconnect()
        if marked:
            reason += (f"; the run is recorded as error, with the {len(self._recorded)} step(s) that finished "
                       "before" if self._recorded else "; the run is recorded as error")
        elif there:
            reason += "; the run could not be recorded as ended either"
        raise RecordingError(f"the run stopped: {reason}")

    def _merged(self, run: Any, result: Any, last_writer: dict[str, int], place: int) -> list[WriteRow]:
        """A row with the merged value of each key another step of this run wrote first.

        Only then can the value in the context differ from what this step wrote
        (``orch_merge_context`` decided it), and the store must end on the context's value.
        The context holds the value after the last step of the group, so a key a later
        step of the group writes again (``last_writer``: key -> the place in the group of
        the last step that wrote it) gets its merged row from that step.
        """
        rows: list[WriteRow] = []
        last = {w.key: w for w in result.delta}
        for key, write in last.items():
            if last_writer.get(key, place) > place:
                continue
            if key in self._written or write.op != "set":  # an accumulating write's value is one contribution
                value = run.context.get(key)
                if value != write.value:
                    rows.append((run.id, key, _json(value), "merge", None, write.ts, None, "merge"))
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
            writes.append((run.id, RUNNER_KEY, _json(last["value"]), last["who"], None, last["ts"], None, "set"))
        journal.close()
        store = self.store
        try:
            with journal.commit_lock:
                store.finish_run(run.id, run.status, run.finished or time.time(), writes,
                                 [*journal.take(), _event(events.run_finish_event(run))])
            failure = None if store.still_there() else (
                f"the state store {store.path} was deleted or replaced during the run: nothing of the run is "
                "recorded")
        except store.Error as exc:
            failure = f"the end of the run could not be recorded in the state store {store.path}: {cause(exc)}"
            self._mark_error(store, run)
        finally:
            self.store = None
            self._release()
        if failure is not None:
            # Not a success: the reporters that follow see the run as failed, and the exit status says so.
            logger.error("state store: run %s: %s", run.id, failure)
            run.status = "error"
            self._disconnect()

    @staticmethod
    def _mark_error(store: StateStore, run: Any) -> bool:
        """Record just the status ``error`` (a full disk may still take this small change); did it?"""
        try:
            store.finish_run(run.id, "error", time.time(), [])
        except store.Error:
            return False
        return True


def _finish_event(run: Any, step: Any, result: Any, when: float) -> dict[str, Any]:
    """The step's ``step_finish`` (or ``step_error``) record, stamped with when it finished."""
    if result.ok:
        record = events.step_finish_event(run, step, result)
    else:
        record = events.step_error_event(run, step, result, result.error or {})
    record["ts"] = utc_timestamp(when)
    return record


def _in_order(starts: list[tuple[int, EventRow]], finishes: list[EventRow | None], first: int) -> list[EventRow]:
    """Step starts and finishes in the order they happened.

    ``starts`` are ``(steps finished before it, event)``; ``finishes`` are the group's
    finish events (``None`` where none is journaled), the first being the ``first``-th
    step of the run to finish. A start goes after the finishes of the steps that had
    finished when it started, and before the others.
    """
    ordered: list[EventRow] = []
    taken = 0
    for place, finish in enumerate(finishes, first):
        while taken < len(starts) and starts[taken][0] < place:
            ordered.append(starts[taken][1])
            taken += 1
        if finish is not None:
            ordered.append(finish)
    ordered.extend(event for _, event in starts[taken:])
    return ordered


def _names(steps: list[str], shown: int = 8) -> str:
    """``steps 'a', 'b' and 3 more``: which steps a message is about, in a line that stays short."""
    listed = ", ".join(map(repr, steps[:shown]))
    more = f" and {len(steps) - shown} more" if len(steps) > shown else ""
    return f"step{'s' if len(steps) > 1 else ''} {listed}{more}"
