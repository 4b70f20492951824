"""The built-in cache: one JSON file per fingerprint under ``<state dir>/cache/``.

It answers the three cache decisions (``orch_cache_key``, ``orch_cache_get``,
``orch_cache_put``) as ``trylast`` implementations, so a plugin that keeps its cache
elsewhere (a shared bucket, a database) pre-empts it by answering first. It also
contributes ``orch cache clear``, which empties both stores of the cache story: the
entries here and the guide's markers ``.cache/K.done`` in the working directory,
which the runner writes after a stored miss and requires for a hit (caching.py).

An entry is written to a temporary file and renamed into place, so a reader sees
either no entry or a whole one, even with two runs writing the same key at once. A
file that cannot be read back anyway (a disk filled up, an edit by hand) is a miss
with a warning: the step runs again and its entry is rewritten.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from orchestrator_core._markers import hookimpl
from orchestrator_core.errors import utc_timestamp
from orchestrator_core.run.fingerprint import digest, fingerprint_key
from orchestrator_core.model import CachedResult, Write

logger = logging.getLogger("orchestrator.cache")

FORMAT = "orch.cache/1"
READ_SIZE = 1 << 16
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def cache_dir(config: Any) -> Path:
    """Where the built-in cache keeps its entries for ``config``."""
    return Path(config.state_dir) / "cache"


def entry_name(key: str) -> str:
    """The file name of ``key``'s entry; a key that is not a safe file name is hashed first."""
    name = key if _SAFE_NAME.fullmatch(key) and not key.startswith(".") else digest(key)
    return f"{name}.json"


def entry_path(directory: Path, key: str) -> Path:
    """The file of ``key`` in ``directory``."""
    return directory / entry_name(key)


def clear(directory: Path) -> int:
    """Remove every entry (and any half-written file) in ``directory``; return how many."""
    removed = 0
    if not directory.is_dir():
        return 0
    for path in directory.iterdir():
        if path.suffix == ".json" or path.name.startswith(".tmp-"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _read_bytes(path: str | Path) -> bytes:
    """The bytes of ``path`` with bare ``os.read``: every cache hit reads one entry, and an
    entry is a few hundred bytes, which ``open()``'s buffered file object takes twice as long to read."""
    handle = os.open(path, os.O_RDONLY)
    try:
        chunks = [os.read(handle, READ_SIZE)]
        while len(chunks[-1]) == READ_SIZE:
            chunks.append(os.read(handle, READ_SIZE))
    finally:
        os.close(handle)
    return b"".join(chunks)


def read_entry(path: str | Path) -> CachedResult:
    """The result stored in ``path``; ``ValueError`` when the file is not a valid entry."""
    raw = _read_bytes(path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason})") from None
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


def write_entry(path: Path, key: str, delta: list[Write], extras: dict[str, Any] | None = None) -> None:
    """Store ``delta`` (and the step's extra JSON-line fields) at ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "format": FORMAT, "key": key, "stored": utc_timestamp(),
        "writes": [{"key": w.key, "value": w.value, "who": w.who, "step": w.step,
                    **({"op": w.op} if w.op != "set" else {})} for w in delta],
        "extras": dict(extras or {}),
    }
    import tempfile  # here: with shutil and random it costs every orch start ~2-10 ms, and only stores need it

    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, separators=(",", ":"))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class LocalCache:
    """The file store; it follows the configuration of the run it is asked about."""

    def __init__(self) -> None:
        self.config: Any = None
        self._folder: tuple[Any, str] = (None, "")  # (a run's config, its entry folder as text)

    def _directory(self, run: Any) -> Path:
        if run is not None:
            return cache_dir(run.config)
        if self.config is None:
            from orchestrator_core.config import Config

            self.config = Config()
        return cache_dir(self.config)

    @hookimpl
    def orch_configure(self, config: Any) -> None:
        self.config = config  # for a caller that gives no run (an older runner)

    @hookimpl
    def orch_add_commands(self, cli: Any) -> None:
        from orchestrator_core.builtin.cache_command import cache_group

        cli.add_command(cache_group(clear))

    @hookimpl(trylast=True)
    def orch_cache_key(self, step: Any, inputs: dict[str, Any]) -> str:
        return fingerprint_key(inputs)

    def _folder_text(self, run: Any) -> str:
        """The entry folder of ``run`` as text, worked out once per run: every step's lookup needs it."""
        config = run.config if run is not None else None
        if config is None or self._folder[0] is not config:
            self._folder = (config, str(self._directory(run)))
        return self._folder[1]

    @hookimpl(trylast=True)
    def orch_cache_get(self, key: str, run: Any) -> CachedResult | None:
        path = f"{self._folder_text(run)}/{entry_name(key)}"
        try:
            return read_entry(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("cache entry %s is unreadable (%s): treated as a miss, the step runs again", path, exc)
            return None

    @hookimpl(trylast=True)
    def orch_cache_put(self, key: str, delta: list[Write], run: Any, result: Any) -> bool:
        extras = result.extras if result is not None else {}
        try:
            write_entry(entry_path(self._directory(run), key), key, delta, extras)
        except OSError as exc:
            logger.warning("could not store cache entry %s: %s", key, exc)
            return False
        return True
