"""Finding recipes and scripts: a path, or a name in the folders installed packs ship.

A pack's folders (``orch_register_recipe_dirs``) hold its recipes (``*.yaml``) and
its scripts (every other file, run by step types such as ``shell``); both are found
by name. Packs coexist as they do for scriptlets: every pack's recipes and scripts are
listed, ``pack:name`` (the pack's plugin name) always chooses one, a pack's own recipes
use its own scripts, and a bare name that two packs ship is an error naming both
rather than whichever pack comes first in plugin order. A recipe name that is also a
file ``NAME.yaml`` in the working directory is ambiguous the same way.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Callable, TypeVar

from orchestrator_core.errors import UsageError, did_you_mean
from orchestrator_core.plugin.registry import QUALIFIER, Registry, ambiguous, unknown_qualified
from orchestrator_core.records import FrozenRecord

SUFFIXES = (".yaml", ".yml")

logger = logging.getLogger("orchestrator.lookup")


class Shipped:
    """A file a pack ships: its ``name``, ``path``, ``pack`` (the plugin's name) and ``provider``
    (the distribution that installed it, for messages). Each kind of file lists the slots."""

    __slots__ = ()

    def __init__(self, name: str, path: Path, pack: str, provider: str | None = None):
        self.name = name
        self.path = path
        self.pack = pack
        self.provider = provider or pack

    @property
    def plugin(self) -> str:
        return self.pack

    @property
    def qualified(self) -> str:
        """``pack:name``: the spelling that stays unique when two packs ship ``name``."""
        return f"{self.pack}{QUALIFIER}{self.name}"


class RecipeEntry(Shipped, FrozenRecord):
    __slots__ = ("name", "path", "pack", "provider")


class ScriptEntry(Shipped, FrozenRecord):
    __slots__ = ("name", "path", "pack", "provider")

    @property
    def executable(self) -> bool:
        return os.access(self.path, os.X_OK)


Entry = TypeVar("Entry", bound=Shipped)


def _shipped(registry: Registry, name_of: Callable[[Path], str | None], make: type[Entry]) -> list[Entry]:
    """The files in the packs' folders that ``name_of`` names, by name then pack; a pack's first
    folder wins a name it ships twice, and a name two packs ship is there once for each."""
    found: dict[tuple[str, str], Entry] = {}
    for folder, pack in registry.recipe_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            name = name_of(path)
            if name is not None and (pack, name) not in found:
                found[(pack, name)] = make(name, path, pack, registry.provider(pack))
    return sorted(found.values(), key=lambda e: (e.name, e.pack))


def _recipe_name(path: Path) -> str | None:
    return path.stem if path.suffix in SUFFIXES else None


def _script_name(path: Path) -> str | None:
    """A regular file that is not a recipe; hidden files (``.name``) and private ones (``_name``,
    e.g. a library a script sources) are left out."""
    if path.suffix in SUFFIXES or path.name.startswith((".", "_")) or not path.is_file():
        return None
    return path.name


def list_recipes(registry: Registry) -> list[RecipeEntry]:
    """Every recipe in the installed packs' recipe folders; a name two packs ship is listed for each."""
    return _shipped(registry, _recipe_name, RecipeEntry)


def list_scripts(registry: Registry) -> list[ScriptEntry]:
    """Every script in the installed packs' folders; a name two packs ship is listed for each."""
    return _shipped(registry, _script_name, ScriptEntry)


def clashing(entries: list[Entry]) -> set[str]:
    """The names more than one pack ships."""
    counts = Counter(e.name for e in entries)
    return {name for name, count in counts.items() if count > 1}


def _choose(kind: str, name: str, entries: list[Entry], home: str | None = None) -> Entry | None:
    """The entry ``name`` or ``pack:name`` names: ``home``'s own where two packs ship ``name``; an error
    naming the packs where it is ambiguous, or what a pack ships where ``pack:name`` is not there."""
    if QUALIFIER in name:
        chosen = [e for e in entries if e.qualified == name]
        if not chosen:
            raise unknown_qualified(kind, name, entries, verb="ships")
        return chosen[0]
    matches = [e for e in entries if e.name == name]
    if len(matches) > 1:
        own = [e for e in matches if e.pack == home]
        if own:
            return own[0]
        raise ambiguous(kind, name, matches, verb="shipped by", advice="give")
    return matches[0] if matches else None


def find_script(name: str, registry: Registry, home: str | None = None) -> ScriptEntry | None:
    """The script ``name`` (a file name, ``sanitize_csv.sh``, or ``pack:sanitize_csv.sh``) an installed
    pack ships, ``home``'s own first (the pack whose recipe asks); ``None`` when no pack ships it.
    Raises :class:`UsageError` when two other packs ship it."""
    return _choose("script", name, list_scripts(registry), home)


def find_recipe(reference: str | Path, registry: Registry) -> Path:
    """Resolve ``reference``: an existing file, else a recipe name (``NAME`` or ``pack:NAME``) from an
    installed pack. A bare name that is also a file ``NAME.yaml`` here is an error, as is one two packs ship."""
    path = Path(reference)
    if path.is_file():
        return path
    text = str(reference)
    looks_like_path = path.suffix in SUFFIXES or "/" in text or "\\" in text
    local = None if looks_like_path or QUALIFIER in text else _local_recipe_file(text)
    if not looks_like_path:
        entries = list_recipes(registry)
        entry = _choose("recipe", text, entries)
        if entry is not None:
            if local is not None and local.resolve() != entry.path.resolve():
                raise UsageError(f"recipe {text!r} is ambiguous: {entry.provider} (plugin {entry.pack!r}) ships "
                                 f"{entry.path}, and {local} is in the working directory; give './{local}' for "
                                 f"the file or {entry.qualified!r} for the pack's recipe")
            logger.debug("recipe %r is %s (from pack %r)", text, entry.path, entry.pack)
            return entry.path
    if path.exists():  # a folder of that name is not a pack's recipe either
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise UsageError(f"recipe {text} is {kind}; give the recipe's YAML file")
    if looks_like_path:
        shipped = [e for e in list_recipes(registry) if e.name == path.stem]
        hint = f"; an installed pack ships a recipe named {path.stem!r}: `orch run {shipped[0].name}`" \
            if len(shipped) == 1 else ""
        raise UsageError(f"recipe file not found: {text}{hint}")
    if local is not None:
        raise UsageError(f"no installed pack ships a recipe named {text!r}; to run the file here, give its "
                         f"path: './{local}'")
    names = sorted({e.name for e in entries})
    hint = did_you_mean(text, names)
    known = f"; installed recipes: {', '.join(names)}" if names and not hint else ""
    raise UsageError(f"no recipe named {text!r}{hint}{known} (see `orch recipes list`, or give a path)")


def _local_recipe_file(name: str) -> Path | None:
    """``NAME.yaml`` (or ``.yml``) in the working directory, which ``orch run NAME`` might mean."""
    for suffix in SUFFIXES:
        candidate = Path(name + suffix)
        if candidate.is_file():
            return candidate
    return None
