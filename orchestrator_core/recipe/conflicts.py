"""Which steps of a recipe may write one key, checked before anything runs.

Steps ordered by dependencies (transitively: :class:`StepOrder`) may write one key,
the later refining the earlier. Two steps that no dependency orders may run side by
side, so both declaring one key is a conflict (:func:`write_conflicts`, both steps'
lines) unless the recipe gives the key its own strategy. Strategy names in ``merge``
must be registered ones (:func:`strategy_problems`). The run-time side of the same
rule is :class:`orchestrator_core.run.merging.MergePolicy`.
"""

from __future__ import annotations

from typing import Any, Iterable

from orchestrator_core.errors import Problem, did_you_mean
from orchestrator_core.model import Recipe, Step
from orchestrator_core.plugin.hooks import Hooks
from orchestrator_core.plugin.registry import Registry
from orchestrator_core.recipe.plan import plan_order


class StepOrder:
    """Whether the dependencies of a recipe order one step before another (transitively)."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        self._parents: dict[str, tuple[str, ...]] | None = None
        self._rank: dict[str, int] = {}
        self._known: dict[tuple[str, str], bool] = {}

    @property
    def rank(self) -> dict[str, int]:
        """Each step's place in plan order (computed on first use: most runs never ask)."""
        if self._parents is None:
            self._rank = {s.name: i for i, s in enumerate(plan_order(self.recipe))}
            self._parents = {s.name: s.depends_on for s in self.recipe.steps}
        return self._rank

    @property
    def parents(self) -> dict[str, tuple[str, ...]]:
        self.rank  # noqa: B018 - computes both
        return self._parents  # type: ignore[return-value]

    def ordered(self, a: str, b: str) -> bool:
        """True when one of ``a`` and ``b`` depends, directly or not, on the other."""
        return self.before(a, b) or self.before(b, a)

    def before(self, a: str, b: str) -> bool:
        """True when ``b`` depends, directly or not, on ``a``."""
        rank_a, rank_b = self.rank.get(a), self.rank.get(b)
        if rank_a is None or rank_b is None or rank_a >= rank_b:
            return False  # a step comes after all of its ancestors in plan order
        if (a, b) not in self._known:
            self._known[(a, b)] = self._search(a, b, rank_a)
        return self._known[(a, b)]

    def _search(self, a: str, b: str, rank_a: int) -> bool:
        stack, seen = list(self.parents.get(b, ())), set()
        while stack:
            name = stack.pop()
            if name == a:
                return True
            if name in seen or self.rank.get(name, -1) < rank_a:
                continue  # an ancestor ranked before ``a`` cannot lead to it
            seen.add(name)
            stack.extend(self.parents.get(name, ()))
        return False


def default_strategy(registry: Registry) -> str | None:
    """The name of the strategy registered as the default (``default = True``), if exactly one is."""
    defaults = [entry.name for entry in registry.entries("merge strategy") if entry.obj.default]
    return defaults[0] if len(defaults) == 1 else None


def strategy_problems(recipe: Recipe, registry: Registry, hooks: Hooks, filename: str) -> list[Problem]:
    """Strategy names in ``merge`` that no plugin registered (when no plugin decides merges itself)."""
    if hooks.impls("orch_merge_context"):
        return []  # a plugin may understand names no strategy is registered under
    known = registry.names("merge strategy")
    if recipe.merge is None and default_strategy(registry) is None:
        defaults = [e.name for e in registry.entries("merge strategy") if e.obj.default]
        return [Problem("the recipe names no merge strategy and the installed plugins register "
                        f"{'several defaults: ' + ', '.join(defaults) if defaults else 'no default one'}; "
                        f"name one in 'merge' (installed: {', '.join(known) or 'none'})",
                        filename, recipe.merge_lines.get(""))]
    named = ([("", recipe.merge)] if recipe.merge else []) + list(recipe.merge_keys.items())
    return [
        Problem(f"unknown merge strategy {name!r}{' for key ' + repr(key) if key else ''}"
                f"{did_you_mean(name, known)}; use one of: {', '.join(known)}",
                filename, recipe.merge_lines.get(key))
        for key, name in named if name not in known
    ]


def write_conflicts(recipe: Recipe, handlers: Iterable[tuple[Step, Any]], filename: str) -> list[Problem]:
    """Pairs of steps no dependency orders that declare the same output key, with no strategy for it.

    ``handlers`` gives each step's prepared handler: its declared ``outputs``
    (``None``: not declared, checked while running instead) and the keys it only
    ``accumulates`` (``ctx.append``/``ctx.update``), which unordered steps may share.
    Each problem names both steps' lines.
    """
    writers: dict[str, list[tuple[Step, bool]]] = {}
    for step, handler in handlers:
        outputs = handler.outputs
        if not outputs:
            continue
        accumulated = getattr(handler, "accumulates", None) or frozenset()
        for key in outputs:
            if key not in recipe.merge_keys:
                writers.setdefault(key, []).append((step, key in accumulated))
    shared = {key: steps for key, steps in writers.items() if len(steps) > 1}
    if not shared:
        return []
    order = StepOrder(recipe)
    pairs: dict[tuple[str, str], tuple[Step, Step, list[str]]] = {}
    for key, steps in sorted(shared.items()):
        # A step plan order leaves out (in a dependency cycle: the loader reports it) is not compared.
        steps = sorted((s for s in steps if s[0].name in order.rank), key=lambda s: order.rank[s[0].name])
        # In plan order, when each writer is ordered before the next, all of them are.
        if all(order.before(a.name, b.name) for (a, _), (b, _) in zip(steps, steps[1:])):
            continue
        pair = next(((a, b) for i, (a, a_acc) in enumerate(steps) for b, b_acc in steps[i + 1:]
                     if not (a_acc and b_acc) and not order.before(a.name, b.name)), None)
        if pair is not None:
            pairs.setdefault((pair[0].name, pair[1].name), (*pair, []))[2].append(key)
    return [
        Problem(f"steps {earlier.name!r} ({filename}:{earlier.line}) and {later.name!r} ({filename}:{later.line}) "
                f"both write {', '.join(map(repr, keys))} and neither depends on the other, so one write would be "
                "lost; order them with depends_on, contribute with ctx.append/ctx.update (listing the key in the "
                "scriptlets' accumulates), or give the key a strategy in the recipe "
                f"(merge: {{keys: {{{keys[0]}: append}}}})", filename, later.line)
        for earlier, later, keys in pairs.values()
    ]


def undeclared_outputs_warnings(outputs: Iterable[tuple[Step, frozenset[str] | None, str]],
                                filename: str) -> list[Problem]:
    """Steps whose scriptlet declares no outputs: they run, but their writes escape the conflict check."""
    return [
        Problem(f"step {step.name!r}: {who!r} declares no outputs, so its writes are allowed and recorded but "
                "not checked for conflicts before the run; declare them (outputs = (...)) to enable the check",
                filename, step.line)
        for step, keys, who in outputs if keys is None
    ]
