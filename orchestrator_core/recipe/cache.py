"""Recipes read before, kept per user: running a recipe again skips PyYAML and the structural checks.

Reading and checking a recipe costs 50-100 µs a step, and importing PyYAML 8-15 ms of every
start: for a small recipe run many times, more than running it. Like Python's bytecode cache,
the recipe as read (the :class:`~orchestrator_core.model.Recipe`, line numbers included) is
kept in a per-user folder (:func:`cache_dir`) and used again whenever nothing it was read
from has changed, from any working directory.

What reading depends on, all in an entry's key (SHA-256):

- the file's bytes (not its size or mtime: an edit that keeps both is still seen);
- the file name's stem (the recipe's name when it gives none);
- the extra keys each installed step type accepts (the unknown-key check reads them);
- the reading code: orch's version, the size and mtime of each module that reads (an
  editable install changes without a new version), PyYAML's, the Python version and its
  limit on integer digits.

The path is not: ``Recipe.path`` is filled in at every read. A recipe with a problem is
never cached (every error is found and located again, exactly as without the cache), and
the checks against the installed plugins (:mod:`~orchestrator_core.recipe.prepare`) run on
every run whatever the cache holds.

An entry is ``marshal`` data (plain tuples, dicts and strings: loading runs no code, unlike
pickle) after a header: the format, the key and a CRC-32 of the data. An entry that is
truncated, corrupted, of another format or unreadable is ignored and written again. The
folder is made private (0700); one that is not owned by the user or that others may write is
neither read nor written. Entries are written to a temporary file and renamed into place,
the oldest are removed past :data:`MAX_ENTRIES` or :data:`MAX_BYTES`, and a cache that cannot
be written costs a run one debug line, nothing else. ``ORCH_NO_RECIPE_CACHE=1`` turns it off.
"""

from __future__ import annotations

import logging
import marshal
import os
import sys
from contextlib import suppress
from operator import attrgetter
from pathlib import Path
from typing import Any, Mapping

from orchestrator_core._markers import __version__
from orchestrator_core.digest import builtin_sha256_hex
from orchestrator_core.model import Recipe, Step
from orchestrator_core.recipe.read import read_recipe_bytes, recipe_from_bytes, resolved_path
from orchestrator_core.surrogates import is_utf8
from orchestrator_core.user_cache import cache_root, is_private, make_private, write_whole

try:
    from zlib import crc32
except ImportError:  # pragma: no cover - a Python built without zlib
    from binascii import crc32

logger = logging.getLogger("orchestrator.recipe_cache")

DISABLE_ENV = "ORCH_NO_RECIPE_CACHE"
MAX_ENTRIES = 256  # recipes kept; past it (or MAX_BYTES), the oldest entries go
MAX_BYTES = 64 << 20
MAX_ENTRY_BYTES = MAX_BYTES // 4  # a recipe bigger than this (~80,000 steps) is read from its file every time
_SUFFIX = ".recipe"
_MAGIC = b"orch recipe cache 1\n"  # the entry format: changing the layout below means a new number
_STEP_FIELDS = Step.__slots__  # in the order Step() takes them
_RECIPE_FIELDS = tuple(name for name in Recipe.__slots__ if name not in ("steps", "path"))
_CORE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The modules whose code decides what a recipe file reads as.
_READER_MODULES = ("_markers.py", "model.py", "errors.py", "digest.py", "recipe/read.py", "recipe/yaml_lines.py",
                   "recipe/values.py", "recipe/plan.py", "recipe/cache.py")
_reader: str | None = None  # worked out once per process: the code that runs is the code imported


def cache_dir() -> Path | None:
    """The folder of cached recipes, or ``None`` when the cache is off (``$ORCH_NO_RECIPE_CACHE``).

    ``recipes`` in the user's cache folder (:func:`~orchestrator_core.user_cache.cache_root`:
    ``$ORCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/orch``, else ``~/.cache/orch``).
    """
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return None
    root = cache_root()
    return root / "recipes" if root is not None else None


def load_recipe(path: str | Path, step_fields: Mapping[str, Mapping[str, Any]]) -> Recipe:
    """The recipe at ``path`` as :func:`~orchestrator_core.recipe.read.read_recipe` reads it, taken from the
    cache when this orch has read the same bytes under the same name with the same step types before."""
    path = Path(path)
    data = read_recipe_bytes(path)
    folder = cache_dir()
    if folder is None:
        return recipe_from_bytes(data, path, step_fields)
    key = _key(data, path.stem, step_fields)
    entry = folder / (key + _SUFFIX)
    recipe = _read_entry(folder, entry, key, path)
    if recipe is not None:
        logger.debug("recipe %s: read from the cache (%s)", path, entry)
        return recipe
    recipe = recipe_from_bytes(data, path, step_fields)  # raises for a recipe with problems: never cached
    _write_entry(folder, entry, key, recipe)
    return recipe


def _key(data: bytes, stem: str, step_fields: Mapping[str, Mapping[str, Any]]) -> str:
    int_digits = getattr(sys, "get_int_max_str_digits", lambda: 0)()  # YAML integers longer than this do not read
    head = "\0".join((_reader_identity(), str(int_digits), stem, _fields_signature(step_fields)))
    return builtin_sha256_hex(head.encode("utf-8", "surrogateescape") + b"\0" + data)


def _reader_identity() -> str:
    """orch's version, the reading modules' sizes and mtimes, PyYAML's, and the Python version."""
    global _reader
    if _reader is None:
        files = [os.path.join(_CORE, name) for name in _READER_MODULES]
        yaml_file = _yaml_file()
        stamps = [_stamp(f) for f in (*files, *([yaml_file] if yaml_file else []))]
        _reader = "\0".join((_MAGIC.decode(), __version__, sys.version, sys.implementation.cache_tag,
                             yaml_file or "no yaml", *stamps))
    return _reader


def _yaml_file() -> str | None:
    """PyYAML's ``__init__.py`` (it holds the version), found without importing PyYAML."""
    module = sys.modules.get("yaml")
    if module is not None:
        return getattr(module, "__file__", None)
    import importlib.util

    try:
        spec = importlib.util.find_spec("yaml")
    except (ImportError, ValueError):
        return None
    return spec.origin if spec else None


def _stamp(file: str) -> str:
    """What tells one version of a reader module from another without reading it: besides size
    and mtime (which a reproducible build or an unpacked wheel can keep equal across versions),
    the inode and ctime, which a reinstall cannot keep."""
    try:
        st = os.stat(file)
    except OSError:
        return f"{file}:missing"
    return f"{file}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"


def _fields_signature(step_fields: Mapping[str, Mapping[str, Any]]) -> str:
    def names(kind: Any) -> str:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        return "|".join(f"{getattr(k, '__module__', '')}.{getattr(k, '__qualname__', repr(k))}" for k in kinds)

    return ";".join(f"{name}:" + ",".join(f"{key}={names(kind)}" for key, kind in accepted.items())
                    for name, accepted in step_fields.items())


def _read_entry(folder: Path, entry: Path, key: str, path: Path) -> Recipe | None:
    try:
        if not is_private(folder):
            logger.debug("recipe cache %s: not used, as it (or its parent) is not private to this user", folder)
            return None
        with open(entry, "rb") as file:
            blob = file.read()
    except (FileNotFoundError, NotADirectoryError):  # not cached yet (writing says why it cannot be)
        return None
    except OSError as exc:
        logger.debug("recipe cache: cannot read %s (%s)", entry, exc.strerror or exc)
        return None
    try:
        return _decode(blob, key, path)
    except Exception as exc:  # truncated, corrupted, another format: read the file, then write the entry again
        logger.debug("recipe cache: ignoring %s (%s: %s)", entry, type(exc).__name__, exc)
        return None


def _header(key: str) -> bytes:
    return _MAGIC + key.encode("ascii") + b"\n"


def _decode(blob: bytes, key: str, path: Path) -> Recipe:
    head = _header(key)
    if not blob.startswith(head):
        raise ValueError("not an entry of this format and key")
    payload = memoryview(blob)[len(head) + 4:]
    if crc32(payload) != int.from_bytes(blob[len(head):len(head) + 4], "big"):
        raise ValueError("checksum mismatch")
    step_names, recipe_names, recipe_values, steps = marshal.loads(payload)
    if step_names != _STEP_FIELDS or recipe_names != _RECIPE_FIELDS:
        raise ValueError("written for another shape of Recipe or Step")
    where = resolved_path(str(path))
    if where is not None and not is_utf8(where):  # the same bytes elsewhere were fine: here they are not
        raise ValueError("the recipe's path is not UTF-8 text: read from the file, which says so")
    return Recipe(steps=tuple(Step(*values) for values in steps), path=where,
                  **dict(zip(_RECIPE_FIELDS, recipe_values, strict=True)))


def _encode(key: str, recipe: Recipe) -> bytes:
    step_values = attrgetter(*_STEP_FIELDS)
    payload = marshal.dumps((_STEP_FIELDS, _RECIPE_FIELDS, attrgetter(*_RECIPE_FIELDS)(recipe),
                             tuple(map(step_values, recipe.steps))))
    return _header(key) + crc32(payload).to_bytes(4, "big") + payload


def _write_entry(folder: Path, entry: Path, key: str, recipe: Recipe) -> None:
    try:
        blob = _encode(key, recipe)
    except ValueError as exc:  # a value marshal cannot hold (a date in a step type's own key): not cached
        logger.debug("recipe %s: not cached (%s)", recipe.path, exc)
        return
    if len(blob) > MAX_ENTRY_BYTES:
        return
    try:
        make_private(folder)
        write_whole(entry, blob)
        _prune(folder)
    except OSError as exc:
        logger.debug("recipe cache %s: cannot write (%s); recipes are read from their files",
                     folder, exc.strerror or exc)


def _prune(folder: Path) -> None:
    """Remove the oldest entries (by mtime) while there are more than MAX_ENTRIES or MAX_BYTES of them."""
    entries = []
    for name in os.listdir(folder):
        with suppress(OSError):
            st = os.stat(folder / name)
            entries.append((st.st_mtime_ns, st.st_size, name))
    entries.sort()
    count, size = len(entries), sum(e[1] for e in entries)
    for _, bytes_, name in entries:
        if count <= MAX_ENTRIES and size <= MAX_BYTES:
            break
        with suppress(OSError):
            os.unlink(folder / name)
        count, size = count - 1, size - bytes_
