"""``orch doctor``: say what is wrong with a state store, and recover what SQLite can still read.

A store can be damaged by a disk that failed or filled up, a copy taken while a run
was writing it, a file overwritten by something else, or a hand edit. Checking reads
it without changing anything: that it is a SQLite database, SQLite's own
``integrity_check``, the schema version and tables, that every JSON column holds
JSON, that each column holds what :mod:`.columns` says it must (a number where
the commands compute with one, an object where they look into one), and that every
step result, write and event belongs to a run the store holds. Repairing never edits the damaged file: it moves the file (with its
write-ahead log) aside as ``state.db.damaged-TIME`` and builds a new store from every
row it can still read, table by table, reading each from both ends so that rows
beyond a damaged page are kept too, and leaving out rows whose JSON is invalid (a
run whose flags are invalid is kept, with no flags); a row with a value of the wrong
kind gets the replacement its column's rule gives (NULL, no flags) or is left out.
A run left out takes its step results, writes and events with it: the new store is
built in one transaction, and holds no row of a run it does not hold.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from orchestrator_core.state import columns as rules
from orchestrator_core.state.faults import StateStoreError, cause
from orchestrator_core.state.liveness import DIRECTORY as LOCKS, run_alive
from orchestrator_core.state.migrations import CURRENT_VERSION, schema_version
from orchestrator_core.state.store import DB_NAME, TABLES, StateStore, connect_read_only

# The JSON column of each table, and the columns that order its rows (its key).
JSON_COLUMNS = {"runs": "flags", "step_results": "error", "context_writes": "value", "fingerprints": "inputs",
                "events": "data"}
# A run is worth keeping without its flags: invalid flags become ``{}``, other invalid rows are left out.
REPLACEMENT = {"runs": "{}"}
ORDER = {"runs": "rowid", "step_results": "run, step", "context_writes": "id", "fingerprints": "recipe, step",
         "events": "id"}
# The tables whose rows belong to a run (their ``run`` column): a row whose run is not in ``runs`` is an
# orphan, which no command shows (they reach rows through their run). ``fingerprints`` is not one: its row
# is a step's last fingerprint, still true when the run that recorded it is gone.
OWNED = ("step_results", "context_writes", "events")
SIDE_FILES = ("-wal", "-shm")


@dataclass
class Checkup:
    """What :func:`check` found: ``problems`` (each one line), and how many rows each table holds."""

    path: Path
    exists: bool = True
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    newer: bool = False  # written by a newer orch: not damaged, and not to be rebuilt by this one

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"store": str(self.path), "exists": self.exists, "healthy": self.healthy,
                "problems": self.problems, "notes": self.notes, "rows": self.rows}


def check(state_dir: Path) -> Checkup:
    """Look at the store in ``state_dir`` without changing it."""
    path = Path(state_dir) / DB_NAME
    found = Checkup(path)
    if not path.exists():
        found.exists = False
        return found
    if path.is_dir():
        found.problems.append("it is a directory, not a database file")
        return found
    try:
        conn = connect_read_only(path)
    except sqlite3.Error as exc:
        found.problems.append(cause(exc, path))
        return found
    try:
        _check_database(conn, found)
    finally:
        conn.close()
    return found


def _check_database(conn: sqlite3.Connection, found: Checkup) -> None:
    try:
        version = schema_version(conn)
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        found.problems.append(cause(exc, found.path))
        return
    try:
        verdicts = [" ".join(row[0].split()) for row in conn.execute("PRAGMA integrity_check(20)")]
    except sqlite3.Error as exc:
        verdicts = [cause(exc)]
    if verdicts != ["ok"]:
        found.problems.append(f"SQLite's integrity check fails: {'; '.join(verdicts[:3])}"
                              f"{f' (and {len(verdicts) - 3} more)' if len(verdicts) > 3 else ''}")
    if version > CURRENT_VERSION:
        found.newer = True
        found.problems.append(f"schema version {version} is newer than this orch's {CURRENT_VERSION}: upgrade orch")
    elif version < CURRENT_VERSION and (version or tables):
        found.notes.append(f"schema version {version}: the next run brings it up to version {CURRENT_VERSION}")
    missing = [name for name in TABLES if name not in tables]
    if missing and version >= CURRENT_VERSION:
        found.problems.append(f"table{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing")
    for table, column in JSON_COLUMNS.items():
        if table not in tables:
            continue
        try:
            found.rows[table] = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            bad = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} IS NOT NULL"
                               f" AND json_valid({column}) = 0").fetchone()[0]
        except sqlite3.Error as exc:
            found.problems.append(f"table {table} cannot be read to its end: {cause(exc)}")
            continue
        if bad:
            found.problems.append(f"{bad} row(s) of table {table} hold invalid JSON in column {column}")
        _check_kinds(conn, table, found)
    if "runs" in tables:
        _check_orphans(conn, [table for table in OWNED if table in tables], found)


def _check_orphans(conn: sqlite3.Connection, tables: list[str], found: Checkup) -> None:
    """Count the rows of ``tables`` whose run is not in ``runs`` (a run lost or left out by a repair)."""
    for table in tables:
        try:
            count, runs = conn.execute(f"SELECT COUNT(*), COUNT(DISTINCT run) FROM {table}"
                                       " WHERE run NOT IN (SELECT id FROM runs)").fetchone()
        except sqlite3.Error as exc:
            found.problems.append(f"table {table} cannot be read to its end: {cause(exc)}")
            continue
        if count:
            found.problems.append(f"{count} row(s) of table {table} belong to {runs} run(s) that are not in "
                                  "table runs")


def _check_kinds(conn: sqlite3.Connection, table: str, found: Checkup) -> None:
    """Count the rows of ``table`` whose columns hold something other than their rules say."""
    try:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        counts = [(rule, conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {rule.wrong_sql}").fetchone()[0])
                  for rule in rules.rules_of(table) if rule.column in present]
    except sqlite3.Error as exc:
        found.problems.append(f"table {table} cannot be read to its end: {cause(exc)}")
        return
    for rule, bad in counts:
        if bad:
            found.problems.append(f"{bad} row(s) of table {table} hold something other than {rule.holds}"
                                  f" in column {rule.column}")


@dataclass
class Recovery:
    """What :func:`repair` did: where the damaged store went, and the rows kept and lost per table."""

    moved_to: Path
    kept: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)  # rows with invalid JSON, left out (runs: emptied)
    # "table.column" -> rows whose value there was of the wrong kind: left out, or given the rule's replacement
    dropped: dict[str, int] = field(default_factory=dict)
    replaced: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)  # tables whose reading stopped at a damaged page
    orphans: dict[str, int] = field(default_factory=dict)  # table -> rows left out: their run is not kept

    def to_dict(self) -> dict[str, Any]:
        return {"moved_to": str(self.moved_to), "kept": self.kept, "invalid_json_dropped": self.invalid,
                "wrong_kind_dropped": self.dropped, "wrong_kind_replaced": self.replaced,
                "tables_partly_unreadable": self.unreadable, "orphans_dropped": self.orphans}


def running_runs(state_dir: Path) -> list[str]:
    """Runs whose process still holds their lock: repairing under them would lose what they write."""
    folder = Path(state_dir) / LOCKS
    try:
        names = [p.stem for p in folder.glob("*.lock")]
    except OSError:
        return []
    return [name for name in names if run_alive(state_dir, name, None)]


def repair(state_dir: Path) -> Recovery:
    """Move the store aside and build a new one from what can be read of it.

    Raises :class:`StateStoreError` while a run is writing the store.
    """
    state_dir = Path(state_dir)
    path = state_dir / DB_NAME
    busy = running_runs(state_dir)
    if busy:
        raise StateStoreError(f"run {busy[0]} is still running on the state store {path}: "
                              "repair it once no run is running")
    aside = path.with_name(f"{DB_NAME}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    try:
        shutil.move(str(path), str(aside))
        for suffix in SIDE_FILES:  # the log holds committed transactions: it goes with its database
            side = Path(f"{path}{suffix}")
            if side.exists():
                shutil.move(str(side), f"{aside}{suffix}")
    except OSError as exc:
        raise StateStoreError(f"cannot move the state store {path} aside: {cause(exc, path)}") from None
    recovery = Recovery(aside)
    store = StateStore.open(state_dir)
    assert store is not None
    try:
        if aside.is_file():
            _copy_readable(aside, store, recovery)
    finally:
        store.close()
    return recovery


def _copy_readable(source: Path, store: StateStore, recovery: Recovery) -> None:
    try:
        old = connect_read_only(source)
        tables = {name for (name,) in old.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        return  # not a database at all: nothing to keep
    try:
        with store.transaction() as conn:  # all or nothing: no run's rows without the run, nor the reverse
            for table in TABLES:
                if table in tables:
                    _copy_table(old, conn, table, recovery)
            _drop_orphans(conn, recovery)
    finally:
        old.close()


def _drop_orphans(conn: sqlite3.Connection, recovery: Recovery) -> None:
    """Leave out the rows of the runs that were not kept (unreadable, or whose ``started`` was left out)."""
    for table in OWNED:
        gone = conn.execute(f"DELETE FROM {table} WHERE run NOT IN (SELECT id FROM runs)").rowcount
        if gone:
            recovery.orphans[table] = gone
            recovery.kept[table] = recovery.kept.get(table, 0) - gone


def _copy_table(old: sqlite3.Connection, new: sqlite3.Connection, table: str, recovery: Recovery) -> None:
    new_columns = [row[1] for row in new.execute(f"PRAGMA table_info({table})")]
    try:
        old_columns = [row[1] for row in old.execute(f"PRAGMA table_info({table})")]
    except sqlite3.Error:
        recovery.unreadable.append(table)
        return
    columns = [c for c in new_columns if c in old_columns]
    names = ", ".join(columns)
    json_at = columns.index(JSON_COLUMNS[table]) if JSON_COLUMNS[table] in columns else None
    checks = [(columns.index(rule.column), rule) for rule in rules.rules_of(table) if rule.column in columns]
    rows: dict[tuple, tuple] = {}
    for direction in ("ASC", "DESC"):  # from both ends: the rows beyond a damaged page too
        order = ", ".join(f"{c} {direction}" for c in ORDER[table].split(", "))
        key_width = len(ORDER[table].split(", "))
        select = f"SELECT {ORDER[table]}, {names} FROM {table} ORDER BY {order}"
        for row in _readable(old, select, table, recovery):
            rows.setdefault(tuple(row[:key_width]), tuple(row[key_width:]))
    kept = []
    for key in sorted(rows, key=_sortable):
        row = rows[key]
        if json_at is not None and row[json_at] is not None and not _valid_json(row[json_at]):
            recovery.invalid[table] = recovery.invalid.get(table, 0) + 1
            if table not in REPLACEMENT:
                continue
            row = (*row[:json_at], REPLACEMENT[table], *row[json_at + 1:])
        fitted = _fitted(row, checks, recovery)
        if fitted is not None:
            kept.append(fitted)
    new.executemany(f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", kept)
    recovery.kept[table] = len(kept)


def _fitted(row: tuple, checks: list[tuple[int, rules.Rule]], recovery: Recovery) -> tuple | None:
    """``row`` with each wrong value replaced as its rule says; ``None`` when a rule says to leave it out."""
    for at, rule in checks:
        value = json.loads(row[at]) if rule.json and row[at] is not None else row[at]
        if rule.fits(value):
            continue
        name = f"{rule.table}.{rule.column}"
        if rule.repair is rules.DROP:
            recovery.dropped[name] = recovery.dropped.get(name, 0) + 1
            return None
        recovery.replaced[name] = recovery.replaced.get(name, 0) + 1
        row = (*row[:at], rule.repair, *row[at + 1:])
    return row


def _readable(conn: sqlite3.Connection, select: str, table: str, recovery: Recovery) -> Iterator[tuple]:
    """The rows of ``select`` up to the first that cannot be read."""
    try:
        for row in conn.execute(select):
            yield row
    except sqlite3.Error:
        if table not in recovery.unreadable:
            recovery.unreadable.append(table)


def _sortable(key: tuple) -> tuple:
    return tuple((0, v) if isinstance(v, (int, float)) else (1, str(v)) for v in key)


def _valid_json(text: Any) -> bool:
    try:
        json.loads(text)
    except (ValueError, TypeError):
        return False
    return True
