"""Finding recipes and scripts: a path, or a name in the folders installed packs ship.

A pack's folders (``orch_register_recipe_dirs``) hold its recipes (``*.yaml``) and
its scripts (every other file, run by step types such as ``shell``); both are found
by name, the first pack in plugin order winning a name.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from orchestrator_core.errors import UsageError, did_you_mean
from orchestrator_core.plugin.registry import Registry
from orchestrator_core.records import FrozenRecord

SUFFIXES = (".yaml", ".yml")

logger = logging.getLogger("orchestrator.lookup")


class RecipeEntry(FrozenRecord):
    __slots__ = ("name", "path", "pack")

    def __init__(self, name: str, path: Path, pack: str):
        self.name = name
        self.path = path
        self.pack = pack


def list_recipes(registry: Registry) -> list[RecipeEntry]:
    """Every recipe in the installed packs' recipe folders; the first pack wins a name."""
    found: dict[str, RecipeEntry] = {}
    for folder, pack in registry.recipe_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in SUFFIXES and path.stem not in found:
                found[path.stem] = RecipeEntry(path.stem, path, pack)
    return sorted(found.values(), key=lambda e: e.name)


class ScriptEntry(FrozenRecord):
    __slots__ = ("name", "path", "pack")

    def __init__(self, name: str, path: Path, pack: str):
        self.name = name
        self.path = path
        self.pack = pack

    @property
    def executable(self) -> bool:
        return os.access(self.path, os.X_OK)


def list_scripts(registry: Registry) -> list[ScriptEntry]:
    """Every script in the installed packs' folders: a regular file that is not a recipe.

    Hidden files (``.name``) and private ones (``_name``, e.g. a library a script
    sources) are left out.
    """
    found: dict[str, ScriptEntry] = {}
    for folder, pack in registry.recipe_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if (path.suffix in SUFFIXES or path.name.startswith((".", "_")) or not path.is_file()
                    or path.name in found):
                continue
            found[path.name] = ScriptEntry(path.name, path, pack)
    return sorted(found.values(), key=lambda e: e.name)


def find_script(name: str, registry: Registry) -> ScriptEntry | None:
    """The script called ``name`` (a file name, ``sanitize_csv.sh``) an installed pack ships."""
    for entry in list_scripts(registry):
        if entry.name == name:
            return entry
    return None


def find_recipe(reference: str | Path, registry: Registry) -> Path:
    """Resolve ``reference``: an existing file, else a recipe name from an installed pack."""
    path = Path(reference)
    if path.is_file():
        return path
    text = str(reference)
    looks_like_path = path.suffix in SUFFIXES or "/" in text or "\\" in text
    if not looks_like_path:
        for entry in list_recipes(registry):
            if entry.name == text:
                logger.debug("recipe %r is %s (from pack %r)", text, entry.path, entry.pack)
                return entry.path
    if path.exists():  # a folder of that name is not a pack's recipe either
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise UsageError(f"recipe {text} is {kind}; give the recipe's YAML file")
    names = [e.name for e in list_recipes(registry)]
    if looks_like_path:
        raise UsageError(f"recipe file not found: {text}")
    hint = did_you_mean(text, names)
    known = f"; installed recipes: {', '.join(names)}" if names and not hint else ""
    raise UsageError(f"no recipe named {text!r}{hint}{known} (see `orch recipes list`, or give a path)")
