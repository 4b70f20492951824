"""What the installed plugins provide: scriptlets, step types, executors, merge strategies, recipe folders.

Each class is checked when it is registered (a ``name``, the right base class, a
class rather than an instance), and a name two plugins register is reported naming
both; the name is then unusable until one of them goes, rather than letting the
last registration silently win.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import PluginError, UsageError, did_you_mean
from .hooks import Hooks
from .interfaces import Executor, MergeStrategy, StepType
from .known_plugins import install_hint
from .scriptlet import BaseScriptlet, scriptlet_name


@dataclass(frozen=True)
class Registered:
    """A class some plugin registered, and who registered it."""

    name: str
    obj: Any
    plugin: str
    distribution: str | None = None

    @property
    def provider(self) -> str:
        return self.distribution or self.plugin


_KINDS = {
    "scriptlet": ("orch_register_scriptlets", BaseScriptlet),
    "step type": ("orch_register_step_types", StepType),
    "executor": ("orch_register_executors", Executor),
    "merge strategy": ("orch_register_merge_strategies", MergeStrategy),
}


class Registry:
    """Everything registered, by kind and name, plus the problems found while collecting."""

    def __init__(self, hooks: Hooks):
        self.hooks = hooks
        self.problems: list[str] = []
        self._conflicts: dict[tuple[str, str], list[Registered]] = {}
        self._by_kind: dict[str, dict[str, Registered]] = {kind: {} for kind in _KINDS}
        infos = getattr(hooks.pm, "infos", {})
        for kind, (hook_name, base) in _KINDS.items():
            for impl in reversed(hooks.impls(hook_name)):  # registration order
                info = infos.get(impl.plugin_name)
                dist = info.distribution if info else None
                try:
                    provided = impl.function() or []
                except Exception as exc:  # noqa: BLE001 - a broken pack must not break the rest
                    self.problems.append(f"plugin {impl.plugin_name!r}: {hook_name} failed: {exc}")
                    continue
                for obj in provided:
                    self._add(kind, base, obj, impl.plugin_name, dist)

    def _add(self, kind: str, base: type, obj: Any, plugin: str, dist: str | None) -> None:
        try:
            name = _check_class(kind, base, obj)
        except PluginError as exc:
            self.problems.append(f"plugin {plugin!r}: {exc}")
            return
        entry = Registered(name, obj, plugin, dist)
        table = self._by_kind[kind]
        if (kind, name) in self._conflicts:
            self._conflicts[(kind, name)].append(entry)
        elif name in table:
            first = table.pop(name)
            self._conflicts[(kind, name)] = [first, entry]
            self.problems.append(
                f"{kind} {name!r} is registered twice, by {first.provider} ({first.obj.__module__}) "
                f"and by {entry.provider} ({obj.__module__}); neither is used until one is removed"
            )
        else:
            table[name] = entry

    def names(self, kind: str) -> list[str]:
        return sorted(self._by_kind[kind])

    def entries(self, kind: str) -> list[Registered]:
        return [self._by_kind[kind][n] for n in self.names(kind)]

    def get(self, kind: str, name: str) -> Registered:
        """The entry ``name`` of ``kind``, or a :class:`UsageError` that says what to do."""
        table = self._by_kind[kind]
        if name in table:
            return table[name]
        if (kind, name) in self._conflicts:
            providers = " and ".join(e.provider for e in self._conflicts[(kind, name)])
            raise UsageError(f"{kind} {name!r} is ambiguous: registered by {providers}")
        known = ", ".join(sorted(table)) or "none"
        hint = install_hint(kind, name) or did_you_mean(name, list(table))
        raise UsageError(f"unknown {kind} {name!r}{hint}; known: {known}")

    def recipe_dirs(self) -> list[tuple[Path, str]]:
        """Recipe folders of installed packs, with the plugin that ships each."""
        dirs = []
        for impl in reversed(self.hooks.impls("orch_register_recipe_dirs")):
            for path in impl.function() or []:
                dirs.append((Path(path), impl.plugin_name))
        return dirs


def _check_class(kind: str, base: type, obj: Any) -> str:
    if not isinstance(obj, type):
        hint = " (did you forget to return the class rather than an instance?)" if isinstance(obj, base) else ""
        raise PluginError(f"registered {kind} {obj!r} is not a class{hint}")
    if not issubclass(obj, base):
        raise PluginError(f"{kind} {obj.__qualname__} must subclass {base.__module__}.{base.__qualname__}")
    name = scriptlet_name(obj) if kind == "scriptlet" else getattr(obj, "name", "")
    if not name or not isinstance(name, str):
        raise PluginError(f"{kind} {obj.__qualname__} has no 'name'")
    return name
