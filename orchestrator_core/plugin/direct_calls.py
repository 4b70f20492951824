"""The per-step hooks of one run, called without pluggy's per-call work.

A step costs the runner three to five hook calls (``orch_external_writes``,
``orch_before_step``, ``orch_after_step``, the cache's ``orch_cache_key`` and
``orch_cache_get``...). Through pluggy each call applies the spec's defaults, checks
the arguments, copies the list of implementations and runs ``_multicall``: ~1-3 us a
call before any plugin runs, as much as the rest of the runner's work on a step that
does nothing. The plugins of a run stay the same while it runs, so the implementations
are looked up once, when it starts, and called in pluggy's order with pluggy's
arguments and results: :class:`DirectHooks` stands in for ``pm.hook`` for that run.

What stays exactly as it was:

* every implementation of a plugin is called, in pluggy's order (``tryfirst``,
  ``trylast``, registration order), with the arguments it names; a ``firstresult``
  hook stops at the first answer that is not ``None``; an exception raised by an
  implementation propagates as it was raised, and the implementations after it are
  not called;
* a hook with a wrapper (``wrapper=True``, ``hookwrapper=True``), an implementation that
  takes keyword arguments with defaults, or a plugin manager that traces its calls
  (``ORCH_TRACE_PLUGINS``, ``add_hookcall_monitoring``) goes through pluggy as before;
* a plugin registered or unregistered while the run runs is seen at the next call,
  which then goes through pluggy.

Only built-in plugins may be left out: those that say, once the run started, which of
their implementations do nothing for the rest of it (``idle_hooks(run)``: the progress
lines with ``--no-progress``, the events file without ``--events``...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import pluggy

# The hooks a run calls for every step (or group of steps); the others go through pluggy.
PER_STEP_HOOKS = (
    "orch_external_writes", "orch_before_step", "orch_record_steps", "orch_after_step", "orch_on_step_error",
    "orch_cache_key", "orch_cache_get", "orch_cache_put", "orch_merge_context",
)
BUILTIN_SOURCE = "builtin"

try:  # the function pluggy calls hooks with while nobody traces them (pluggy >= 1.0)
    from pluggy._callers import _multicall as _UNTRACED
except ImportError:  # pragma: no cover - a pluggy without it: every call goes through pluggy
    _UNTRACED = None


class DirectHooks:
    """``pm.hook`` for one run: each per-step hook a plain function, the rest pluggy's callers."""

    def __init__(self, pm: pluggy.PluginManager, idle: dict[int, frozenset[str]] | None = None):
        self._relay = pm.hook
        for name in PER_STEP_HOOKS:
            caller = getattr(pm.hook, name, None)
            direct = direct_caller(pm, caller, idle or {}) if caller is not None else None
            if direct is not None:
                setattr(self, name, direct)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._relay, name)


def idle_implementations(pm: Any, run: Any) -> dict[int, frozenset[str]]:
    """``id(plugin)`` -> the hooks whose implementations a built-in plugin says do nothing in ``run``.

    Asked once, after ``orch_run_start``: a built-in plugin decides there whether it
    is on for the run (``--no-progress``, no ``--events`` file) and stays so to its end.
    """
    infos = getattr(pm, "infos", {})
    idle = {}
    for name, plugin in pm.list_name_plugin():
        info = infos.get(name)
        ask = getattr(plugin, "idle_hooks", None)
        if info is None or info.source != BUILTIN_SOURCE or not callable(ask):
            continue
        idle[id(plugin)] = frozenset(ask(run))
    return idle


def direct_caller(pm: Any, hook: Any, idle: dict[int, frozenset[str]]) -> Callable[..., Any] | None:
    """A function calling ``hook``'s implementations as pluggy would; ``None`` when pluggy must call them."""
    if _UNTRACED is None or getattr(pm, "_inner_hookexec", None) is not _UNTRACED:
        return None  # traced: every call goes through pluggy's monitoring
    if hook.spec is None or hook.spec.opts.get("historic") or getattr(hook.spec, "kwargdefaults", None):
        return None  # no spec to follow, a historic hook, or defaults pluggy would add to each call
    live = getattr(hook, "_hookimpls", None)  # the list pluggy registers into, compared at each call
    if type(live) is not list:
        return None  # a pluggy that keeps them otherwise: no cheap way to see a plugin come or go
    snapshot = hook.get_hookimpls()
    if any(impl.wrapper or impl.hookwrapper or impl.kwargnames for impl in snapshot):
        return None
    name = hook.name
    calls = tuple((impl.function, tuple(impl.argnames)) for impl in reversed(snapshot)
                  if name not in idle.get(id(impl.plugin), ()))

    def unheard() -> bool:
        """Whether a call now would reach no implementation (none left, and no plugin came since)."""
        return not calls and live == snapshot and pm._inner_hookexec is _UNTRACED

    if hook.spec.opts.get("firstresult"):
        def call_first(**kwargs: Any) -> Any:
            if live != snapshot or pm._inner_hookexec is not _UNTRACED:
                return hook(**kwargs)  # a plugin came or went, or tracing began: pluggy's call
            for function, names in calls:
                answer = function(*[kwargs[n] for n in names])
                if answer is not None:
                    return answer
            return None
        call_first.unheard = unheard  # type: ignore[attr-defined]
        return call_first

    def call_each(**kwargs: Any) -> list[Any]:
        if live != snapshot or pm._inner_hookexec is not _UNTRACED:
            return hook(**kwargs)
        answers = []
        for function, names in calls:
            answer = function(*[kwargs[n] for n in names])
            if answer is not None:
                answers.append(answer)
        return answers
    call_each.unheard = unheard  # type: ignore[attr-defined]
    return call_each
