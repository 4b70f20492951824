"""Building the plugin manager: built-ins first, then installed plugins one by one.

Built-in plugins are registered through the same call as entry points, so a plugin
can block or replace any of them. A plugin that fails to load is reported with its
distribution and the error, and everything else keeps working.

A plugin name that two distributions declare is not settled by which one's folder comes
first on disk (which silently hid the other): it belongs to the distribution the naming
rule gives it (``orchestrator-<name>``, :func:`~orchestrator_core.plugin.known.owner_of`);
the others are not loaded and are reported, as a failure to load is. When none of them
is that distribution, none is loaded: orch cannot know which one the user meant.
"""

from __future__ import annotations

import importlib
import logging
import os
import types
from typing import Any, Iterable

import pluggy

from orchestrator_core.plugin import hookspecs
from orchestrator_core.plugin.entrypoints import EntryPoint, entry_points
from orchestrator_core._markers import CORE_DISTRIBUTION, ENTRY_POINT_GROUP, PROJECT_NAME, __version__
from orchestrator_core.records import Record

logger = logging.getLogger("orchestrator.plugins")

BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("python", "orchestrator_core.builtin.python_step"),
    ("inline", "orchestrator_core.builtin.executor_inline"),
    ("thread", "orchestrator_core.builtin.executor_thread"),
    ("merge", "orchestrator_core.builtin.merge"),
    ("reporter", "orchestrator_core.builtin.jsonlines:JsonLinesReporter"),
    ("progress", "orchestrator_core.builtin.progress:Progress"),
    ("events", "orchestrator_core.builtin.events:EventLog"),
    ("cache", "orchestrator_core.builtin.cache_local:LocalCache"),
    ("state", "orchestrator_core.builtin.state:StateRecorder"),
    ("server", "orchestrator_core.builtin.server:RunServers"),
)
"""Name and dotted module of each built-in plugin; ``module:Class`` registers an instance."""
# Without these nothing runs at all, so they cannot be blocked.
ESSENTIAL_PLUGINS = frozenset({"python", "inline", "merge", "reporter"})

DISABLE_ENV = "ORCH_DISABLE_PLUGINS"
ALLOW_ENV = "ORCH_LOAD_PLUGINS"
TRACE_ENV = "ORCH_TRACE_PLUGINS"


class PluginInfo(Record):
    """What ``orch plugins list`` shows about one plugin."""

    __slots__ = ("name", "source", "module", "version", "distribution", "error", "hooks")

    def __init__(self, name: str, source: str, module: str, version: str | None = None,
                 distribution: str | None = None, error: str | None = None, hooks: list[str] | None = None):
        self.name = name
        self.source = source  # builtin | entrypoint | cli
        self.module = module
        self.version = version
        self.distribution = distribution
        self.error = error
        self.hooks = [] if hooks is None else hooks

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "source": self.source,
            "module": self.module,
            "hooks": self.hooks,
            "error": self.error,
        }


class OrchPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where each plugin came from and what failed."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.infos: dict[str, PluginInfo] = {}
        # Distributions not loaded because another declares the same plugin name (see the module's doc).
        self.passed_over: list[PluginInfo] = []
        self.configured = False  # orch_configure has been called

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        """pluggy's lookup, skipped for the names that surely are no hook implementation.

        pluggy looks at every name in ``dir(plugin)`` with ``inspect.getattr_static``
        (~20 us each): the dunders of a plugin object and every name a plugin module
        imports, ~400 names for the built-ins and the bundled plugins, 5-10 ms of every
        start. A name none of whose definitions (the instance's, its classes', the
        module's) carries the ``hookimpl`` mark cannot become one, so pluggy is asked
        only about the others, and answers as before.
        """
        if not _may_carry_mark(plugin, name, _IMPL_MARK):
            return None
        return super().parse_hookimpl_opts(plugin, name)

    @property
    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos.values() if info.error] + self.passed_over

    def register_plugin(self, plugin: Any, info: PluginInfo) -> bool:
        """Register ``plugin``; on a bad hook, record the error instead of raising."""
        try:
            self.register(plugin, name=info.name)
            _check_hook_names(plugin, set(hookspecs_names(self)))
        except (pluggy.PluginValidationError, ValueError) as exc:
            if self.is_registered(plugin):
                self.unregister(plugin)
            info.error = _first_line(exc)
        self.infos[info.name] = info
        return info.error is None

    def plugin_infos(self) -> list[PluginInfo]:
        """Every plugin known, sorted by name, with the hooks it implements (a distribution passed
        over for a name another one has is listed after it, with why)."""
        for name, info in self.infos.items():
            plugin = self.get_plugin(name)
            callers = self.get_hookcallers(plugin) if plugin is not None else None
            info.hooks = sorted({c.name for c in callers or []})
        ranked = [(info.name, 0, "", info) for info in self.infos.values()]
        ranked += [(info.name, 1, info.distribution or "", info) for info in self.passed_over]
        return [info for *_, info in sorted(ranked, key=lambda r: r[:3])]


_IMPL_MARK = PROJECT_NAME + "_impl"  # the attribute HookimplMarker sets on what it marks


def _may_carry_mark(plugin: Any, name: str, mark: str) -> bool:
    """Whether some definition of ``name`` on ``plugin`` (read from the ``__dict__`` mappings, running no
    descriptor) carries ``mark``, itself or on its ``__func__``; unsure answers are ``True``."""
    if isinstance(plugin, type):
        owners = plugin.__mro__
    elif isinstance(plugin, types.ModuleType):
        owners = (plugin,)
    else:
        owners = (plugin, *type(plugin).__mro__)
    for owner in owners:
        try:
            space = object.__getattribute__(owner, "__dict__")
            value = space.get(name, _ABSENT) if isinstance(space, dict) or type(space) is types.MappingProxyType \
                else _ABSENT
            if value is not _ABSENT and (getattr(value, mark, None) is not None
                                         or getattr(getattr(value, "__func__", None), mark, None) is not None):
                return True
        except Exception:  # noqa: BLE001 - an object that answers oddly is left to pluggy
            return True
    return False


_ABSENT = object()


def hookspecs_names(pm: pluggy.PluginManager) -> Iterable[str]:
    """Names of the hooks that have a specification (not just a misspelt implementation)."""
    return (
        name for name in dir(pm.hook)
        if name.startswith("orch_") and getattr(pm.hook, name).spec is not None
    )


def _check_hook_names(plugin: Any, known: set[str]) -> None:
    """Refuse ``orch_*`` functions that match no hook (a misspelt hook never fires)."""
    for attr in dir(plugin):
        if attr.startswith("orch_") and attr not in known and callable(getattr(plugin, attr, None)):
            raise ValueError(f"unknown hook {attr!r} (see `orch plugins hooks` or docs/hooks.md)")


def _first_line(exc: BaseException) -> str:
    """The error on one line: its type and its message, lines joined."""
    text = "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}".rstrip(": ")


def names_from_env(var: str) -> set[str]:
    """The comma-separated plugin names in environment variable ``var``."""
    return {n.strip() for n in os.environ.get(var, "").split(",") if n.strip()}


def create_plugin_manager(
    *,
    load_entrypoints: bool = True,
    blocked: Iterable[str] = (),
    plugins: Iterable[Any] = (),
) -> OrchPluginManager:
    """Build a plugin manager with the built-ins, the installed plugins and ``plugins``.

    :param load_entrypoints: load plugins from the ``orchestrator`` entry-point group
        (tests of the core pass ``False`` to stay independent of what is installed).
    :param blocked: plugin names not to load (also ``$ORCH_DISABLE_PLUGINS``, comma
        separated); ``$ORCH_LOAD_PLUGINS`` restricts entry points to the names listed.
    :param plugins: extra plugin objects or modules to register (source ``cli``).
    """
    pm = OrchPluginManager()
    pm.add_hookspecs(hookspecs)
    blocked = set(blocked) | names_from_env(DISABLE_ENV)
    for name in blocked - ESSENTIAL_PLUGINS:
        pm.set_blocked(name)
    for name, module_name in BUILTIN_PLUGINS:
        if name in blocked and name not in ESSENTIAL_PLUGINS:
            continue
        module_path, _, class_name = module_name.partition(":")
        plugin = importlib.import_module(module_path)
        if class_name:
            plugin = getattr(plugin, class_name)()
        pm.register_plugin(plugin, PluginInfo(name, "builtin", module_path, __version__, CORE_DISTRIBUTION))
    if load_entrypoints:
        _load_entrypoints(pm, blocked, names_from_env(ALLOW_ENV))
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        pm.register_plugin(plugin, PluginInfo(name, "cli", getattr(plugin, "__module__", None) or name))
    pm.hook.orch_addhooks.call_historic(kwargs={"pluginmanager": pm})
    if os.environ.get(TRACE_ENV):
        _trace_hooks(pm)
    return pm


def _load_entrypoints(pm: OrchPluginManager, blocked: set[str], allowed: set[str]) -> None:
    for name, claims in _claims(entry_points(ENTRY_POINT_GROUP)).items():
        if name in blocked or (allowed and name not in allowed):
            continue
        chosen = _owning(name, claims)
        if chosen is not None:
            _load_entrypoint(pm, chosen)
        for ep in claims:
            if ep is not chosen:
                pm.passed_over.append(PluginInfo(ep.name, "entrypoint", ep.value, version=ep.version,
                                                 distribution=ep.distribution, error=_passed_over(pm, ep, claims, chosen)))


def _claims(found: list[EntryPoint]) -> dict[str, list[EntryPoint]]:
    """The entry points of each plugin name, by name, one per distribution.

    One distribution can show up twice (declaring a name twice, or found in two ``sys.path``
    folders under two spellings of its name): its first entry point is the one Python would
    import, and the others are no second claim to the name.
    """
    from orchestrator_core.plugin.known import same_distribution

    claims: dict[str, list[EntryPoint]] = {}
    for ep in sorted(found, key=lambda e: e.name):
        others = claims.setdefault(ep.name, [])
        if not any(same_distribution(ep.distribution, other.distribution) for other in others):
            others.append(ep)
    return claims


def _owning(name: str, claims: list[EntryPoint]) -> EntryPoint | None:
    """The entry point to load for ``name``: the only claim, else the naming rule's owner's, else none."""
    if len(claims) == 1:
        return claims[0]
    from orchestrator_core.plugin.known import owner_of, same_distribution

    return next((ep for ep in claims if same_distribution(ep.distribution, owner_of(name))), None)


def _passed_over(pm: OrchPluginManager, ep: EntryPoint, claims: list[EntryPoint], chosen: EntryPoint | None) -> str:
    """Why ``ep`` was not loaded, naming the other distributions that declare its name and which one is used."""
    from orchestrator_core.plugin.known import owner_of

    others = " and ".join(f"{o.distribution} {o.version}" for o in claims if o is not ep)
    claim = f"{others} {'declares' if len(claims) == 2 else 'declare'} the plugin name {ep.name!r} too"
    rule = f"of distributions that share a plugin name, orch loads {owner_of(ep.name)}"
    if chosen is None:
        return (f"{claim}, so none of them is loaded ({rule}, and it is not one of them); uninstall "
                f"{'one' if len(claims) == 2 else 'all but one'} of them")
    used = "is used" if not pm.infos[chosen.name].error else "was chosen, and failed to load"
    return f"{claim}, and {chosen.distribution} {used} ({rule}); to use this one instead, uninstall {chosen.distribution}"


def _load_entrypoint(pm: OrchPluginManager, ep: EntryPoint) -> None:
    info = PluginInfo(ep.name, "entrypoint", ep.value, version=ep.version, distribution=ep.distribution)
    try:
        plugin = ep.load()
    except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the rest
        info.error = _first_line(exc)
        pm.infos[info.name] = info
        logger.debug("loading plugin %s failed", ep.name, exc_info=True)
        return
    pm.register_plugin(plugin, info)


def unknown_plugin_names(names: Iterable[str], spelling: str = "-p no:{name}") -> list[str]:
    """One message per name in ``names`` that no built-in or installed plugin has, with the
    closest known name: ``-p no:NAME`` with a typo must not silently block nothing, nor a typo
    in ``$ORCH_LOAD_PLUGINS`` silently load no installed plugin at all.
    ``spelling`` is how the user wrote the name (``ORCH_DISABLE_PLUGINS={name}``)."""
    names = list(names)
    if not names:
        return []  # the usual case: no scan of the installed distributions just to check nothing
    from orchestrator_core.errors import did_you_mean

    known = {name for name, _ in BUILTIN_PLUGINS} | {ep.name for ep in entry_points(ENTRY_POINT_GROUP)}
    return [f"{spelling.format(name=name)}: no plugin is named {name!r}{did_you_mean(name, sorted(known))}; "
            f"'orch plugins list' shows the names" for name in names if name not in known]


def _trace_hooks(pm: pluggy.PluginManager) -> None:
    """Log every hook call and its outcome at DEBUG (``ORCH_TRACE_PLUGINS=1``)."""
    trace = logging.getLogger("orchestrator.trace")

    def before(hook_name: str, impls: list, kwargs: dict) -> None:
        trace.debug("call %s(%s) -> %s", hook_name, ", ".join(kwargs), [i.plugin_name for i in impls])

    def after(outcome: Any, hook_name: str, impls: list, kwargs: dict) -> None:
        trace.debug("done %s", hook_name)

    pm.add_hookcall_monitoring(before, after)


def failure_messages(pm: OrchPluginManager) -> list[str]:
    """One line per plugin that failed to load, naming its distribution and the error."""
    lines = []
    for info in pm.failures:
        dist = f" from {info.distribution} {info.version}" if info.distribution else ""
        lines.append(f"plugin {info.name!r}{dist} was not loaded: {info.error}")
    return lines

