"""Reading the state store: runs, step results, recorded contexts, fingerprints.

:class:`StoreReader` holds the queries the commands, ``--resume-from``/``--only``
and ``orch why`` need; :class:`~orchestrator_core.state.store.StateStore` is a reader
that also opens the database and writes to it. The queries reach step results and
writes through their run, which is what the tables' keys are for.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Collection, Sequence

from orchestrator_core.errors import UsageError
from orchestrator_core.state import columns
from orchestrator_core.state.faults import damaged_store, store_error
from orchestrator_core.state.liveness import pid_alive
from orchestrator_core.state.run_record import RunRecord

__all__ = ["RunRecord", "StoreReader", "pid_alive"]


_RUN_COLUMNS = "id, recipe, recipe_path, recipe_digest, started, finished, status, flags, pid"
# Where each checked column of a run is in its row (flags decoded first)
_RUN_RULES = tuple((_RUN_COLUMNS.split(", ").index(rule.column), rule) for rule in columns.rules_of("runs"))
_EVENT_DATA = columns.rule_of("events", "data")
_FINGERPRINT_INPUTS = columns.rule_of("fingerprints", "inputs")
_FINGERPRINT_RECORDED = columns.rule_of("fingerprints", "recorded")


# Up to how many steps, and how many keys, step_writes names in its query (SQLite takes 999
# parameters before 3.32; a long IN list also costs it more than reading the run's writes)
_LISTED = 200
_SCAN = json.JSONDecoder().scan_once  # what json.loads runs on a text, without its Python layers


class StoreReader:
    """Queries over one connection to a state database.

    Every query goes through :meth:`_rows` and every stored JSON text through
    :meth:`_loads`, so a damaged store (a malformed page, a missing table, a row of bad
    JSON) reaches the commands as one :class:`StateStoreError` naming the store and
    the cause, never as a traceback.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from None

    def _loads(self, text: str, table: str) -> Any:
        try:
            return json.loads(text)
        except (ValueError, TypeError) as exc:
            raise damaged_store(self.path, f"a row of table {table} holds invalid JSON ({exc})") from None

    def _loads_all(self, texts: Sequence[str], table: str) -> list[Any]:
        """Each text decoded as :meth:`_loads` would, through the decoder's own scanner called
        directly (a resumed run's start decodes a value per upstream key: a third of the cost);
        a text it does not take whole goes to :meth:`_loads`, which decodes it or names the damage."""
        values = []
        for text in texts:
            try:
                value, end = _SCAN(text, 0)
            except (StopIteration, ValueError, TypeError):
                end = -1
            values.append(value if end == len(text) else self._loads(text, table))
        return values

    def _checked(self, rule: columns.Rule, value: Any) -> Any:
        """``value`` of ``rule``'s column, or the damaged-store error when it holds something else."""
        if not rule.fits(value):
            raise damaged_store(self.path, columns.described(rule, value))
        return value

    def _run_record(self, row: Sequence[Any]) -> RunRecord:
        values = list(row)
        values[7] = self._loads(values[7] or "{}", "runs")
        for at, rule in _RUN_RULES:
            self._checked(rule, values[at])
        return RunRecord(*values, state_dir=self.path.parent)

    # -- runs ------------------------------------------------------------------------------
    def runs(self, *, recipe: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first."""
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        args: list[Any] = []
        if recipe:
            sql += " WHERE recipe = ?"
            args.append(recipe)
        sql += " ORDER BY started DESC, rowid DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._run_record(row) for row in self._rows(sql, args)]

    def latest_run(self, recipe: str) -> RunRecord | None:
        found = self.runs(recipe=recipe, limit=1)
        return found[0] if found else None

    def get_run(self, reference: str) -> RunRecord:
        """A run by full id, unique id prefix, or ``latest``; a :class:`UsageError` otherwise."""
        if reference == "latest":
            found = self.runs(limit=1)
            if not found:
                raise UsageError(f"no run recorded in {self.path}")
            return found[0]
        rows = self._rows(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE substr(id, 1, ?) = ? ORDER BY started DESC LIMIT 6",
            (len(reference), reference),
        )
        exact = [row for row in rows if row[0] == reference]
        if exact or len(rows) == 1:
            return self._run_record((exact or rows)[0])
        if not rows:
            raise UsageError(f"no run {reference!r} in {self.path} (see `orch runs list`)")
        ids = ", ".join(row[0] for row in rows[:5])
        raise UsageError(f"run id prefix {reference!r} is ambiguous: {ids}{'...' if len(rows) > 5 else ''}")

    def step_counts(self, run_ids: list[str]) -> dict[str, dict[str, int]]:
        """Run id → step status → how many steps ended so."""
        counts: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
        for chunk in range(0, len(run_ids), 500):
            ids = run_ids[chunk:chunk + 500]
            marks = ", ".join("?" * len(ids))
            for run_id, status, n in self._rows(
                f"SELECT run, status, COUNT(*) FROM step_results WHERE run IN ({marks}) GROUP BY run, status", ids
            ):
                counts[run_id][status] = n
        return counts

    # -- steps -----------------------------------------------------------------------------
    _STEP_COLUMNS = ("step", "status", "error", "duration_ms", "cpu_ms", "peak_rss_kb", "cache", "attempts",
                     "executor", "finished")
    _STEP_RULES = columns.rules_of("step_results")

    def step_results(self, run_id: str) -> list[dict[str, Any]]:
        """The steps a run finished, in the order they finished."""
        rows = self._rows(f"SELECT {', '.join(self._STEP_COLUMNS)} FROM step_results WHERE run = ? ORDER BY finished",
                          (run_id,))
        results = []
        for row in rows:
            result = dict(zip(self._STEP_COLUMNS, row))
            result["error"] = self._loads(result["error"], "step_results") if result["error"] else None
            for rule in self._STEP_RULES:
                self._checked(rule, result[rule.column])
            results.append(result)
        return results

    def succeeded_steps(self, run_id: str) -> set[str]:
        """The steps that finished ok in ``run_id``."""
        return {step for (step,) in self._rows("SELECT step FROM step_results WHERE run = ? AND status = 'ok'",
                                               (run_id,))}

    def succeeded(self, recipe: str, step: str) -> bool:
        """Whether ``step`` of ``recipe`` ever finished ok in a recorded run."""
        return self.last_success(recipe, step) is not None

    def last_success(self, recipe: str, step: str) -> str | None:
        """The latest run of ``recipe`` in which ``step`` finished ok, if any."""
        rows = self._rows(
            "SELECT r.id FROM runs r JOIN step_results s ON s.run = r.id AND s.step = ?"
            " WHERE r.recipe = ? AND s.status = 'ok' ORDER BY r.started DESC, r.rowid DESC LIMIT 1",
            (step, recipe),
        )
        return rows[0][0] if rows else None

    def last_successes(self, recipe: str, steps: Sequence[str], *, looked_at: str | None = None) -> dict[str, str]:
        """Step → the latest run of ``recipe`` in which it finished ok, for those of ``steps`` that ever did.

        Walks the runs newest first and stops as soon as every step is found, so steps
        that succeeded recently cost a run or two, not a query each. ``looked_at``: a run the
        caller knows none of ``steps`` succeeded in (it asked already), skipped.
        """
        missing, found = set(steps), {}
        for (run_id,) in self._rows("SELECT id FROM runs WHERE recipe = ? ORDER BY started DESC, rowid DESC",
                                     (recipe,)):
            if not missing:
                break
            if run_id == looked_at:
                continue
            for step in self.succeeded_steps(run_id) & missing:
                found[step] = run_id
            missing -= found.keys()
        return found

    def fingerprint(self, recipe: str, step: str) -> dict[str, Any] | None:
        """The last fingerprint recorded for ``step`` of ``recipe``: key, inputs, and the run that
        recorded it (the first run with that key: a cache hit does not record it again)."""
        rows = self._rows(
            "SELECT key, inputs, run, recorded FROM fingerprints WHERE recipe = ? AND step = ?", (recipe, step),
        )
        if not rows:
            return None
        key, inputs, run, recorded = rows[0]
        return {"key": key, "inputs": self._checked(_FINGERPRINT_INPUTS, self._loads(inputs, "fingerprints")),
                "run": run, "recorded": self._checked(_FINGERPRINT_RECORDED, recorded)}

    def fingerprint_keys(self, recipe: str) -> dict[str, str]:
        """Step → the key of its last recorded fingerprint, for every step of ``recipe`` that has one."""
        return dict(self._rows("SELECT step, key FROM fingerprints WHERE recipe = ?", (recipe,)))

    # -- context ---------------------------------------------------------------------------
    def context(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Key → its last write in ``run_id`` (value, who, step, ts, run it came from)."""
        rows = self._rows(
            "SELECT key, value, who, step, ts, source_run FROM context_writes WHERE id IN"
            " (SELECT MAX(id) FROM context_writes WHERE run = ? GROUP BY key) ORDER BY key", (run_id,),
        )
        values = self._loads_all([row[1] for row in rows], "context_writes")
        return {
            key: {"value": value, "who": who, "step": step, "ts": ts, "run": source_run or run_id}
            for (key, _, who, step, ts, source_run), value in zip(rows, values)
        }

    def context_without(self, run_id: str, steps: Collection[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """:meth:`context`, but each key's last write in ``run_id`` not made by one of ``steps``;
        and the keys whose value could not be told apart from those steps' writes.

        A key only ``steps`` wrote is left out. A key whose writes were merged (``ctx.append``,
        ``ctx.update``, a merge strategy) holds the contributions of every writer in one value:
        when one of ``steps`` contributed, its last value is given and the key is named in the
        second list, for the caller to rebuild it (:mod:`.replay`) or say it cannot. Each entry's
        ``op`` is how its write combined (``merge``: a merged value; ``None``: not recorded).
        Only the chosen rows' values are read.
        """
        excluded = json.dumps(sorted(steps))  # one parameter, however many steps (SQLite's json_each)
        mixed = [key for (key,) in self._rows(
            "SELECT DISTINCT key FROM context_writes WHERE run = ? AND step IS NULL AND who = 'merge' AND key IN"
            " (SELECT key FROM context_writes WHERE run = ? AND step IN (SELECT value FROM json_each(?)))"
            " ORDER BY key", (run_id, run_id, excluded))]
        sql = ("SELECT key, value, who, step, ts, source_run, op FROM context_writes WHERE id IN"
               " (SELECT MAX(id) FROM context_writes WHERE run = ? AND (step IS NULL OR step NOT IN"
               " (SELECT value FROM json_each(?))) GROUP BY key)")
        args: list[Any] = [run_id, excluded]
        if mixed:  # their last write, whoever made it
            sql += (" OR id IN (SELECT MAX(id) FROM context_writes WHERE run = ? AND key IN"
                    " (SELECT value FROM json_each(?)) GROUP BY key)")
            args += [run_id, json.dumps(mixed)]
        by_key = {row[0]: row for row in self._rows(sql + " ORDER BY key, id", args)}  # the later write wins
        rows = list(by_key.values())
        values = self._loads_all([row[1] for row in rows], "context_writes")
        entries = {key: {"value": value, "who": who, "step": step, "ts": ts, "run": source_run or run_id, "op": op}
                   for (key, _, who, step, ts, source_run, op), value in zip(rows, values)}
        return entries, mixed

    def key_writes(self, run_id: str, keys: Collection[str]) -> dict[str, list[dict[str, Any]]]:
        """Key → every row of it in ``run_id``, in the order recorded, with its ``op`` and ``source_run``:
        what a merged key is rebuilt from (:mod:`.replay`)."""
        rows = self._rows("SELECT key, value, who, step, ts, source_run, op FROM context_writes WHERE run = ?"
                          " AND key IN (SELECT value FROM json_each(?)) ORDER BY id", (run_id, json.dumps(list(keys))))
        values = self._loads_all([row[1] for row in rows], "context_writes")
        found: dict[str, list[dict[str, Any]]] = {}
        for (key, _, who, step, ts, source_run, op), value in zip(rows, values):
            found.setdefault(key, []).append({"value": value, "who": who, "step": step, "ts": ts,
                                              "source_run": source_run, "op": op})
        return found

    def writes(self, run_id: str, key: str | None = None) -> list[dict[str, Any]]:
        """Every write recorded in ``run_id`` (of ``key`` only, when given), in order."""
        sql = "SELECT key, value, who, step, ts, source_run FROM context_writes WHERE run = ?"
        args: list[Any] = [run_id]
        if key is not None:
            sql += " AND key = ?"
            args.append(key)
        return [
            {"key": k, "value": self._loads(v, "context_writes"), "who": who, "step": step, "ts": ts,
             "run": source_run or run_id, "carried": source_run is not None}
            for k, v, who, step, ts, source_run in self._rows(sql + " ORDER BY id", args)
        ]

    def step_writes(self, run_id: str, steps: Sequence[str], *,
                    except_keys: Collection[str] = ()) -> list[dict[str, Any]]:
        """The writes ``steps`` made themselves in ``run_id`` (nothing carried over), in order, with
        their ``op``; none of a key in ``except_keys``.

        Only those rows' values are decoded, however many other writes the run holds. The query
        names the steps and the keys left out while they are few (SQLite takes 999 parameters
        before 3.32); past that the run's own writes are read in one pass and picked here.
        """
        steps, skipped = list(steps), list(except_keys)
        sql = "SELECT id, key, value, who, step, ts, op FROM context_writes WHERE run = ? AND source_run IS NULL"
        args: list[Any] = [run_id]
        if len(steps) <= _LISTED:
            sql += f" AND step IN ({', '.join('?' * len(steps))})"
            args += steps
        if 0 < len(skipped) <= _LISTED:
            sql += f" AND key NOT IN ({', '.join('?' * len(skipped))})"
            args += skipped
        wanted, unwanted = set(steps), set(skipped)
        found = sorted(row for row in self._rows(sql, args) if row[4] in wanted and row[1] not in unwanted)
        values = self._loads_all([row[2] for row in found], "context_writes")
        return [{"key": k, "value": value, "who": who, "step": step, "ts": ts, "run": run_id, "carried": False,
                 "op": op} for (_, k, _, who, step, ts, op), value in zip(found, values)]

    def key_history(self, key: str, *, recipe: str, until: float) -> list[dict[str, Any]]:
        """Every original write of ``key`` in runs of ``recipe`` started by ``until``, oldest first.

        Copies a resumed run carried over from an earlier run are left out: each write
        appears once, in the run that made it.
        """
        rows = self._rows(
            "SELECT w.run, w.value, w.who, w.step, w.ts FROM runs r JOIN context_writes w ON w.run = r.id"
            " AND w.key = ? WHERE w.source_run IS NULL AND r.recipe = ? AND r.started <= ?"
            " ORDER BY r.started, w.id", (key, recipe, until),
        )
        return [{"key": key, "value": self._loads(value, "context_writes"), "who": who, "step": step, "run": run,
                 "ts": ts} for run, value, who, step, ts in rows]

    def data_version(self) -> int:
        """A number that changes when another connection commits to the database (cheap to read)."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def external_writes(self, run_id: str, after: int) -> list[tuple[int, str, Any, str, str]]:
        """Writes clients made to ``run_id`` after write id ``after``: ``(id, key, value, who, ts)``.

        Only those still the latest write of their key in the run: a write a step of the
        run recorded later has replaced it, in the store as in the run's context.
        """
        rows = self._rows(
            "SELECT w.id, w.key, w.value, w.who, w.ts FROM context_writes w WHERE w.run = ? AND w.external = 1"
            " AND w.id > ? AND w.id = (SELECT MAX(id) FROM context_writes WHERE run = w.run AND key = w.key)"
            " ORDER BY w.id", (run_id, after),
        )
        return [(id_, key, self._loads(value, "context_writes"), who, ts) for id_, key, value, who, ts in rows]

    # -- events ----------------------------------------------------------------------------
    def events_after(self, after: int, *, run_id: str | None = None, limit: int = 500) -> list[tuple[int, str]]:
        """Journal events with an id above ``after`` (of ``run_id`` only, when given): ``(id, JSON)``."""
        if run_id is None:
            sql, args = "SELECT id, data FROM events WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        else:
            sql = "SELECT id, data FROM events WHERE run = ? AND id > ? ORDER BY id LIMIT ?"
            args = (run_id, after, limit)  # type: ignore[assignment]
        return self._rows(sql, args)

    def last_event_id(self) -> int:
        """The id of the newest event (0 when there is none): where a live stream starts."""
        return self._rows("SELECT COALESCE(MAX(id), 0) FROM events")[0][0]

    def run_events(self, run_id: str, *, names: Sequence[str]) -> list[dict[str, Any]]:
        """The events ``names`` of ``run_id``, oldest first, as records."""
        marks = ", ".join("?" * len(names))
        rows = self._rows(
            f"SELECT data FROM events WHERE id >= (SELECT MIN(id) FROM events WHERE run = ? AND event = 'run_start')"
            f" AND run = ? AND event IN ({marks}) ORDER BY id", (run_id, run_id, *names),
        )
        return [self._checked(_EVENT_DATA, self._loads(data, "events")) for (data,) in rows]

    def step_outputs(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Step → key → the last value that step wrote, as recorded in ``run_id``."""
        outputs: dict[str, dict[str, Any]] = {}
        for step, key, value in self._rows(
            "SELECT step, key, value FROM context_writes WHERE run = ? AND step IS NOT NULL ORDER BY id", (run_id,)
        ):
            outputs.setdefault(step, {})[key] = self._loads(value, "context_writes")
        return outputs

    def original_writes(self, *, recipe: str | None = None) -> list[dict[str, Any]]:
        """Every write as first made (carried-over copies left out), oldest run first."""
        sql = ("SELECT w.run, r.recipe, w.key, w.value, w.step FROM runs r JOIN context_writes w ON w.run = r.id"
               " WHERE w.source_run IS NULL")
        args: list[Any] = []
        if recipe:
            sql += " AND r.recipe = ?"
            args.append(recipe)
        return [{"run": run, "recipe": name, "key": key, "value": self._loads(value, "context_writes"),
                 "step": step}
                for run, name, key, value, step in self._rows(sql + " ORDER BY r.started, w.id", args)]
