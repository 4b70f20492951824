"""The built-in cache: one entry per fingerprint, in a table under ``<state dir>/cache/``.

It answers the three cache decisions (``orch_cache_key``, ``orch_cache_get``,
``orch_cache_put``) as ``trylast`` implementations, so a plugin that keeps its cache
elsewhere (a shared bucket, a database) pre-empts it by answering first. It also
contributes ``orch cache clear``, which empties both stores of the cache story: the
entries here and the guide's markers ``.cache/K.done`` in the working directory,
which the runner writes after a stored miss and requires for a hit (caching.py).

An entry is a JSON document (:func:`encode_entry`) stored in one SQLite commit
(cache_table.py), so a reader sees either no entry or a whole one, even with two runs
writing the same key at once. An entry that cannot be read back anyway (a disk filled
up, an edit by hand) is a miss with a warning: the step runs again and its entry is
rewritten.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from orchestrator_core._markers import hookimpl
from orchestrator_core.builtin.cache_table import EntryTable
from orchestrator_core.errors import utc_timestamp
from orchestrator_core.run.fingerprint import fingerprint_key
from orchestrator_core.model import CachedResult, Write

logger = logging.getLogger("orchestrator.cache")

FORMAT = "orch.cache/1"


def cache_dir(config: Any) -> Path:
    """Where the built-in cache keeps its entries for ``config``."""
    return Path(config.state_dir) / "cache"


def clear(directory: Path) -> int:
    """Remove every entry in ``directory``; return how many.

    Also removes the entry files of earlier versions, which kept one file per entry
    (``*.json`` and half-written ``.tmp-*`` files) and which no run reads any more.
    """
    if not directory.is_dir():
        return 0
    table = EntryTable(directory)
    try:
        removed = table.clear()
    except sqlite3.DatabaseError as exc:  # not a database any more (an edit by hand): clearing removes it
        logger.warning("cache store %s is unreadable (%s): removed whole", table.path, exc)
        removed = 0
        table.close()
        table.remove()
    finally:
        table.close()
    for path in directory.iterdir():
        if path.suffix == ".json" or path.name.startswith(".tmp-"):
            path.unlink(missing_ok=True)
            removed += path.suffix == ".json"
    return removed


def encode_entry(key: str, delta: list[Write], extras: dict[str, Any] | None = None) -> str:
    """The stored form of a result: its writes and the step's extra JSON-line fields."""
    return json.dumps({
        "format": FORMAT, "key": key, "stored": utc_timestamp(),
        "writes": [{"key": w.key, "value": w.value, "who": w.who, "step": w.step,
                    **({"op": w.op} if w.op != "set" else {})} for w in delta],
        "extras": dict(extras or {}),
    }, separators=(",", ":"))


def decode_entry(text: str) -> CachedResult:
    """The result stored as ``text``; ``ValueError`` when it is not a valid entry."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("writes"), list):
        raise ValueError(f"not an {FORMAT} entry")
    writes = []
    for item in data["writes"]:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or "value" not in item:
            raise ValueError("an entry in 'writes' lacks 'key' or 'value'")
        op = item.get("op", "set")
        if op not in ("set", "append", "update"):
            raise ValueError(f"an entry in 'writes' has an unknown op {op!r}")
        writes.append(Write(item["key"], item["value"], str(item.get("who") or "cache"), item.get("step"), op=op))
    extras = data.get("extras") or {}
    if not isinstance(extras, dict):
        raise ValueError("'extras' is not a mapping")
    return CachedResult(writes, extras)


class LocalCache:
    """The entry table; it follows the configuration of the run it is asked about."""

    def __init__(self) -> None:
        self.config: Any = None
        self._last: tuple[Any, EntryTable | None] = (None, None)  # (a run's config, its table)
        self._tables: dict[str, EntryTable] = {}  # entry folder -> its open table

    def _directory(self, run: Any) -> Path:
        if run is not None:
            return cache_dir(run.config)
        if self.config is None:
            from orchestrator_core.config import Config

            self.config = Config()
        return cache_dir(self.config)

    def _table(self, run: Any) -> EntryTable:
        """The table of ``run``'s state directory, found once per run: every step's lookup needs it."""
        config = run.config if run is not None else None
        cached_config, table = self._last
        if table is None or config is None or cached_config is not config:
            folder = str(self._directory(run))
            table = self._tables.get(folder)
            if table is None:
                table = self._tables[folder] = EntryTable(folder)
            self._last = (config, table)
        return table

    @hookimpl
    def orch_configure(self, config: Any) -> None:
        self.config = config  # for a caller that gives no run (an older runner)

    @hookimpl
    def orch_add_commands(self, cli: Any) -> None:
        from orchestrator_core.builtin.cache_command import cache_group

        cli.add_command(cache_group(clear))

    @hookimpl
    def orch_run_finish(self, run: Any) -> None:
        """Close the tables: the next run opens them again, so a store deleted between runs is made anew."""
        for table in self._tables.values():
            table.close()
        self._tables.clear()
        self._last = (None, None)

    @hookimpl(trylast=True)
    def orch_cache_key(self, step: Any, inputs: dict[str, Any]) -> str:
        return fingerprint_key(inputs)

    @hookimpl(trylast=True)
    def orch_cache_get(self, key: str, run: Any) -> CachedResult | None:
        table = self._table(run)
        try:
            text = table.get(key)
            return decode_entry(text) if text is not None else None
        except (sqlite3.Error, OSError, ValueError) as exc:
            logger.warning("cache entry %s in %s is unreadable (%s): treated as a miss, the step runs again",
                           key, table.path, exc)
            return None

    @hookimpl(trylast=True)
    def orch_cache_put(self, key: str, delta: list[Write], run: Any, result: Any) -> bool:
        extras = result.extras if result is not None else {}
        table = self._table(run)
        try:
            table.put(key, encode_entry(key, delta, extras))
        except (sqlite3.Error, OSError) as exc:
            logger.warning("could not store cache entry %s in %s: %s", key, table.path, exc)
            return False
        return True
