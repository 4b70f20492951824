"""What the installed plugins provide: scriptlets, step types, executors, merge strategies, recipe folders.

Each class is checked when it is registered (a ``name``, the right base class, a
class rather than an instance); a scriptlet registered lazily (a :class:`LazyScriptlet`:
its name and ``module:Class``) is imported and checked when it is first used. Every entry
also has a qualified name, ``plugin:name`` (the plugin as ``orch plugins list`` shows it),
so packs can coexist: a name two plugins register is ambiguous, an error only where it is
used bare, and the error names both packs and the ``plugin:name`` spellings, rather than
letting the last registration silently win.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable

from orchestrator_core.errors import PluginError, UsageError, did_you_mean
from orchestrator_core.plugin.hooks import Hooks
from orchestrator_core.plugin.interfaces import Executor, MergeStrategy, StepType
from orchestrator_core.plugin.known import install_hint
from orchestrator_core.scriptlet.base import BaseScriptlet, LazyScriptlet, UnimportableModule, scriptlet_name


logger = logging.getLogger("orchestrator.registry")


class Registered:
    """A class some plugin registered, and who registered it.

    A scriptlet registered as a :class:`LazyScriptlet` has a name at once and its class
    (``obj``) on first use: reading ``obj`` imports and checks it, and raises
    :class:`UsageError` naming the plugin when it cannot be (kept: the import is not retried).
    A plain class rather than a dataclass: one is made per registration at every start.
    """

    __slots__ = ("name", "plugin", "distribution", "lazy", "_obj", "_error")

    def __init__(self, name: str, obj: Any, plugin: str, distribution: str | None = None,
                 lazy: LazyScriptlet | None = None):
        self.name = name
        self.plugin = plugin
        self.distribution = distribution
        self.lazy = lazy
        self._obj = obj
        self._error: str | None = None

    def __repr__(self) -> str:
        what = self.lazy if self._obj is None else self._obj
        return f"Registered({self.name!r}, {what!r}, plugin={self.plugin!r}, distribution={self.distribution!r})"

    @property
    def obj(self) -> Any:
        if self._obj is None:
            if self._error is None:
                self._load()
            if self._error is not None:
                raise UsageError(self._error)
        return self._obj

    @property
    def loaded(self) -> bool:
        """The class is imported (always, unless the entry is lazy and nothing needed it yet)."""
        return self._obj is not None

    def problem(self) -> str | None:
        """Why ``obj`` cannot be had (importing a lazy entry to find out), or ``None``."""
        if self._obj is None and self._error is None:
            self._load()
        return self._error

    def _load(self) -> None:
        assert self.lazy is not None
        where = f"plugin {self.plugin!r}: scriptlet {self.name!r} is registered as {self.lazy.target!r}"
        try:
            cls = self.lazy.load()
        except Exception as exc:  # noqa: BLE001 - a broken pack is reported, not a crash of orch
            self._error = f"{where}, which cannot be imported: {type(exc).__name__}: {exc}"
            return
        try:
            name = _check_class("scriptlet", BaseScriptlet, cls)
        except PluginError as exc:
            self._error = f"{where}: {exc}"
            return
        if name != self.name:
            self._error = (f"{where}, but that class's name is {name!r}: the registration and the class's "
                           f"'name' must agree")
            return
        self._obj = cls

    @property
    def provider(self) -> str:
        return self.distribution or self.plugin

    @property
    def qualified(self) -> str:
        """``plugin:name``: the spelling that stays unique when two packs register ``name``."""
        return f"{self.plugin}{QUALIFIER}{self.name}"


QUALIFIER = ":"


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
        self._problems_by_plugin: dict[str, list[str]] = {}  # the same, without the "plugin 'x': " they start with
        self._conflicts: dict[tuple[str, str], list[Registered]] = {}
        self._by_kind: dict[str, dict[str, Registered]] = {kind: {} for kind in _KINDS}
        self._qualified: dict[str, dict[str, Registered]] = {kind: {} for kind in _KINDS}
        self._homes: dict[str, str | None] = {}  # recipe path -> the plugin shipping it (asked once per step)
        infos = getattr(hooks.pm, "infos", {})
        for kind, (hook_name, base) in _KINDS.items():
            for registration in hooks.registrations(hook_name):
                info = infos.get(registration.plugin)
                dist = info.distribution if info else None
                if registration.error is not None:
                    self._problem(registration.plugin, f"{hook_name} failed: {registration.error}")
                    continue
                for obj in registration.provided:
                    self._add(kind, base, obj, registration.plugin, dist)

    def _problem(self, plugin: str, text: str) -> None:
        self.problems.append(f"plugin {plugin!r}: {text}")
        self._problems_by_plugin.setdefault(plugin, []).append(text)

    def problems_of(self, plugin: str, kind: str = "scriptlet") -> list[str]:
        """What is wrong with what ``plugin`` registers: the problems found while collecting, and those
        of its lazy entries of ``kind`` (imported to find out), each without the plugin's name."""
        prefix = f"plugin {plugin!r}: "
        lazy = [entry.problem() for entry in self._qualified[kind].values() if entry.plugin == plugin]
        return [*self._problems_by_plugin.get(plugin, ()),
                *(problem.removeprefix(prefix) for problem in lazy if problem is not None)]

    def _add(self, kind: str, base: type, obj: Any, plugin: str, dist: str | None) -> None:
        if kind == "scriptlet" and isinstance(obj, UnimportableModule):
            of = f" of {dist}" if dist else ""
            self._problem(plugin, f"scriptlet module {obj.path}{of} cannot be imported, so its scriptlets are "
                                  f"left out: {obj.error}")
            return
        if kind == "scriptlet" and isinstance(obj, LazyScriptlet):
            problem = obj.problem()
            if problem is not None:
                self._problem(plugin, problem)
                return
            entry = Registered(obj.name, None, plugin, dist, lazy=obj)
        else:
            try:
                name = _check_class(kind, base, obj)
            except PluginError as exc:
                self._problem(plugin, str(exc))
                return
            entry = Registered(name, obj, plugin, dist)
        name = entry.name
        table = self._by_kind[kind]
        if entry.qualified in self._qualified[kind]:
            self._problem(plugin, f"{kind} {name!r} is registered twice; the first is used")
            return
        self._qualified[kind][entry.qualified] = entry
        if (kind, name) in self._conflicts:
            self._conflicts[(kind, name)].append(entry)
        elif name in table:
            self._conflicts[(kind, name)] = [table.pop(name), entry]
        else:
            table[name] = entry

    def default_executors(self) -> dict[str, str]:
        """Role (``serial``, ``parallel``, ``requires_process``) → the executor declared the default for it."""
        roles: dict[str, str] = {}
        for entry in self._by_kind["executor"].values():  # call order: the plugin registered last comes first
            for role in entry.obj.default_for:
                roles.setdefault(role, entry.name)
        return roles

    def names(self, kind: str) -> list[str]:
        return sorted(self._by_kind[kind])

    def entries(self, kind: str) -> list[Registered]:
        """The usable entries of ``kind`` by name (lazy ones imported; one that cannot be is left out:
        :meth:`load_all` says why)."""
        return [entry for entry in (self._by_kind[kind][n] for n in self.names(kind)) if entry.problem() is None]

    def all_entries(self, kind: str) -> list[Registered]:
        """Every usable entry of ``kind``, ambiguous ones included, by name then plugin (lazy ones
        imported; one that cannot be is left out: :meth:`load_all` says why)."""
        return sorted((entry for entry in self._qualified[kind].values() if entry.problem() is None),
                      key=lambda e: (e.name, e.plugin))

    def load_all(self, kind: str) -> list[str]:
        """Import every lazy entry of ``kind``; the problems of those that cannot be, each naming
        its plugin (for a listing, ``orch steps list``, and a check, ``orch steps check``)."""
        entries = sorted(self._qualified[kind].values(), key=lambda e: (e.name, e.plugin))
        return [problem for problem in (entry.problem() for entry in entries) if problem is not None]

    def get(self, kind: str, name: str, home: str | None = None) -> Registered:
        """The entry ``name`` (or ``plugin:name``) of ``kind``, or a :class:`UsageError` that says
        what to do. ``home`` is the plugin that ships the recipe asking: its own entry wins a name
        other plugins register too, so a pack's recipes keep working beside any other pack."""
        entry = self._find(kind, name, home)
        entry.obj  # noqa: B018 - a lazy entry is imported here, so a broken one fails where it is used
        return entry

    def _find(self, kind: str, name: str, home: str | None) -> Registered:
        table = self._by_kind[kind]
        if name in table:
            return table[name]
        if QUALIFIER in name:
            return self._get_qualified(kind, name)
        if (kind, name) in self._conflicts:
            both = self._conflicts[(kind, name)]
            for entry in both:
                if entry.plugin == home:
                    return entry
            raise ambiguous(kind, name, both)
        known = ", ".join(sorted(table)) or "none"
        hint = install_hint(kind, name) or did_you_mean(name, list(table))
        infos = getattr(self.hooks.pm, "infos", {})
        packs = ", ".join(sorted(n for n, i in infos.items() if i.source != "builtin" and not i.error)) or "none"
        raise UsageError(f"unknown {kind} {name!r}{hint}; known: {known} (packs loaded: {packs})")

    def _get_qualified(self, kind: str, qualified: str) -> Registered:
        """The entry ``plugin:name``, or an error naming what that plugin does register."""
        if qualified in self._qualified[kind]:
            return self._qualified[kind][qualified]
        raise unknown_qualified(kind, qualified, self._qualified[kind].values())

    def provider(self, plugin: str) -> str:
        """The distribution that installed ``plugin`` (``orchestrator-curriculum``), else the plugin's name."""
        info = getattr(self.hooks.pm, "infos", {}).get(plugin)
        return (info.distribution if info else None) or plugin

    def home_plugin(self, recipe_path: str | Path | None) -> str | None:
        """The plugin whose recipe folder holds ``recipe_path``, if any (worked out once per recipe file:
        every step of a recipe asks, and resolving paths costs more than running a no-op step)."""
        if recipe_path is None:
            return None
        key = str(recipe_path)
        if key not in self._homes:
            folder = Path(recipe_path).resolve().parent
            self._homes[key] = next((plugin for path, plugin in self.recipe_dirs() if path.resolve() == folder), None)
        return self._homes[key]

    def recipe_dirs(self) -> list[tuple[Path, str]]:
        """Recipe folders of installed packs, with the plugin that ships each."""
        dirs = []
        for registration in self.hooks.registrations("orch_register_recipe_dirs"):
            if registration.error is not None:
                logger.warning("plugin %r: orch_register_recipe_dirs failed: %s", registration.plugin,
                               registration.error)
            dirs.extend((Path(path), registration.plugin) for path in registration.provided)
        return dirs


def ambiguous(kind: str, name: str, entries: Iterable[Any], verb: str = "registered by",
              advice: str = "write") -> UsageError:
    """The error for ``name`` that several plugins provide: who provides it, and the ``plugin:name``
    spellings that choose one. ``entries`` have ``provider``, ``plugin`` and ``qualified``."""
    entries = list(entries)
    providers = " and ".join(f"{e.provider} (plugin {e.plugin!r})" for e in entries)
    spellings = " or ".join(repr(e.qualified) for e in entries)
    return UsageError(f"{kind} {name!r} is ambiguous: {verb} {providers}; {advice} {spellings}")


def unknown_qualified(kind: str, qualified: str, entries: Iterable[Any], verb: str = "registers") -> UsageError:
    """The error for ``plugin:name`` that no entry (each with ``plugin`` and ``name``) is: what that
    plugin does provide, or which plugins provide a ``kind`` at all."""
    entries = list(entries)
    plugin, _, name = qualified.partition(QUALIFIER)
    own = sorted(e.name for e in entries if e.plugin == plugin)
    if own:
        return UsageError(f"unknown {kind} {qualified!r}: plugin {plugin!r} {verb} no {name!r}"
                          f"{did_you_mean(name, own)}; it {verb}: {', '.join(own)}")
    plugins = sorted({e.plugin for e in entries})
    return UsageError(f"unknown {kind} {qualified!r}: no plugin {plugin!r} {verb} a {kind}"
                      f"{did_you_mean(plugin, plugins)}; plugins with a {kind}: {', '.join(plugins) or 'none'}")


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
