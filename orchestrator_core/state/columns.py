"""What each column of the state store must hold: one definition for the reader, ``orch doctor`` and its repair.

SQLite keeps whatever it is given: a ``REAL`` column takes the text ``'abc'``, a JSON
column takes any JSON at all. A row left so by a hand edit or another program would
reach the commands as a ``TypeError`` deep inside a view, while the doctor, which only
asks whether the JSON is valid, calls the store sound. So each :class:`Rule` says what a
column holds three ways that must agree: in words (for messages), as a SQL condition
true for a row holding something else (``orch doctor`` counts such rows without reading
them into Python; ``json_type`` fails on invalid JSON, so it is only reached through
``CASE WHEN json_valid``), and as a Python check the reader and the repair run on the
value read (decoded, for a JSON column: an ``isinstance``, cheap on the hot paths). Each
rule also says what ``--repair`` does with a wrong row: write a replacement, or leave the
row out (:data:`DROP`). Invalid JSON is not a rule's business: the doctor checks it first.

Only what the commands rely on is checked: the numbers they compute with, and the
objects, lists and names they look into (a run's plan, a journalled run's plan and
dependencies, a step start's step and time).
"""

from __future__ import annotations

from typing import Any, Callable

from orchestrator_core.records import Record

DROP = "drop"  # what --repair does with a row whose value cannot be replaced: it is left out


class Rule(Record):
    """What ``column`` of ``table`` holds: ``holds`` in words ("a number", "a JSON object"...),
    ``wrong_sql`` true for a row holding something else (invalid JSON aside), ``fits`` the same
    check on the value read (decoded, when ``json``), ``repair`` what --repair writes instead
    (``None``: NULL) or :data:`DROP`. (A :class:`Record`: a run's start-up imports no dataclass.)"""

    __slots__ = ("table", "column", "holds", "wrong_sql", "fits", "repair", "json")

    def __init__(self, table: str, column: str, holds: str, wrong_sql: str, fits: Callable[[Any], bool],
                 repair: Any = DROP, json: bool = False):
        self.table = table
        self.column = column
        self.holds = holds
        self.wrong_sql = wrong_sql
        self.fits = fits
        self.repair = repair
        self.json = json


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_or_null(value: Any) -> bool:
    return value is None or _number(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer_or_null(value: Any) -> bool:
    return value is None or _integer(value)


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _flags(value: Any) -> bool:  # null reads as no flags
    return value is None or isinstance(value, dict) and ("plan" not in value or _names(value["plan"]))


def _error(value: Any) -> bool:
    return value is None or isinstance(value, dict)


def _event(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("event"), str):
        return False
    if value["event"] == "run_start":
        depends_on = value.get("depends_on", {})
        return ("plan" not in value or _names(value["plan"])) and isinstance(depends_on, dict) \
            and all(_names(names) for names in depends_on.values())
    if value["event"] == "step_start":
        return isinstance(value.get("step"), str) and isinstance(value.get("ts"), str)
    return True


def _numeric(column: str, types: str) -> str:
    return f"typeof({column}) NOT IN ({types})"


def _json(column: str, wrong: str) -> str:
    """``wrong`` (about valid JSON in ``column``) only where ``column`` holds valid JSON."""
    return f"(CASE WHEN {column} IS NOT NULL AND json_valid({column}) THEN ({wrong}) ELSE 0 END)"


def _not_names(column: str, path: str) -> str:
    """True when ``path`` of ``column`` is there and is not a list of strings."""
    return (f"CASE WHEN json_type({column}, '{path}') IS NULL THEN 0"
            f" WHEN json_type({column}, '{path}') != 'array' THEN 1"
            f" ELSE EXISTS (SELECT 1 FROM json_each({column}, '{path}') WHERE type != 'text') END")


_NUMBER, _NUMBER_OR_NULL, _INTEGER_OR_NULL = "'integer', 'real'", "'integer', 'real', 'null'", "'integer', 'null'"

_DEPENDS_ON_WRONG = (
    "CASE WHEN json_type(data, '$.depends_on') IS NULL THEN 0"
    " WHEN json_type(data, '$.depends_on') != 'object' THEN 1"
    " ELSE EXISTS (SELECT 1 FROM json_each(data, '$.depends_on') AS d WHERE CASE WHEN d.type != 'array' THEN 1"
    " ELSE EXISTS (SELECT 1 FROM json_each(d.value) WHERE type != 'text') END) END")
_EVENT_WRONG = (
    "json_type(data) != 'object' OR json_type(data, '$.event') IS NOT 'text'"
    f" OR (json_extract(data, '$.event') = 'run_start' AND (({_not_names('data', '$.plan')}) OR ({_DEPENDS_ON_WRONG})))"
    " OR (json_extract(data, '$.event') = 'step_start'"
    " AND (json_type(data, '$.step') IS NOT 'text' OR json_type(data, '$.ts') IS NOT 'text'))")

RULES: tuple[Rule, ...] = (
    Rule("runs", "started", "a number", _numeric("started", _NUMBER), _number),
    Rule("runs", "finished", "a number or NULL", _numeric("finished", _NUMBER_OR_NULL), _number_or_null, None),
    Rule("runs", "pid", "an integer or NULL", _numeric("pid", _INTEGER_OR_NULL), _integer_or_null, None),
    Rule("runs", "flags", "a JSON object whose plan, if any, is a list of step names",
         _json("flags", f"json_type(flags) NOT IN ('object', 'null') OR ({_not_names('flags', '$.plan')})"), _flags, "{}", True),
    Rule("step_results", "error", "a JSON object or NULL",
         _json("error", "json_type(error) NOT IN ('object', 'null')"), _error, DROP, True),
    *(Rule("step_results", column, "a number or NULL", _numeric(column, _NUMBER_OR_NULL), _number_or_null, None)
      for column in ("duration_ms", "cpu_ms")),
    Rule("step_results", "peak_rss_kb", "an integer or NULL", _numeric("peak_rss_kb", _INTEGER_OR_NULL),
         _integer_or_null, None),
    Rule("step_results", "attempts", "an integer", _numeric("attempts", "'integer'"), _integer),
    Rule("step_results", "finished", "a number", _numeric("finished", _NUMBER), _number),
    Rule("fingerprints", "inputs", "a JSON object", _json("inputs", "json_type(inputs) != 'object'"),
         lambda value: isinstance(value, dict), DROP, True),
    Rule("fingerprints", "recorded", "a number", _numeric("recorded", _NUMBER), _number),
    Rule("events", "data", "a JSON object with its event's fields", _json("data", _EVENT_WRONG), _event, DROP, True),
)


def rules_of(table: str) -> tuple[Rule, ...]:
    return tuple(rule for rule in RULES if rule.table == table)


def rule_of(table: str, column: str) -> Rule:
    return next(rule for rule in RULES if rule.table == table and rule.column == column)


def described(rule: Rule, value: Any) -> str:
    """What is wrong, for :func:`~orchestrator_core.state.faults.damaged_store`: the table, the column, the value."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"a row of table {rule.table} holds {shown} in column {rule.column}, which holds {rule.holds}"
