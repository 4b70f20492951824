"""How the writes of one key merge while a run merges deltas: :class:`MergePolicy`.

Steps ordered by dependencies may write one key: the later one refines the earlier
one (v2 after v1), and the key's strategy (``last_write_wins`` unless the recipe
says otherwise) merges them. Steps that no dependency orders may run side by side;
if both write a key, one value would silently replace the other, so that is a
conflict unless the recipe gives the key its own strategy (``merge: {keys: {key:
append}}``). :mod:`orchestrator_core.recipe.conflicts` finds such pairs among declared
outputs before anything runs; :class:`MergePolicy` catches the rest while the run
merges deltas.

Strategies are looked up by name among the registered ones
(``orch_register_merge_strategies``), after any ``orch_merge_context`` implementation.
"""

from __future__ import annotations

from typing import Any

from orchestrator_core.errors import ContextError, UsageError
from orchestrator_core.model import Recipe
from orchestrator_core.plugin.hooks import Hooks
from orchestrator_core.plugin.registry import Registry
from orchestrator_core.recipe.conflicts import StepOrder, default_strategy


class MergePolicy:
    """The recipe's ``merge`` setting for one run: each key's strategy, and who may write it."""

    def __init__(self, recipe: Recipe, hooks: Hooks, registry: Registry):
        self.default = recipe.merge or default_strategy(registry) or ""
        self.keys = dict(recipe.merge_keys)
        self.hooks = hooks
        self.registry = registry
        self.order = StepOrder(recipe)
        self._strategies: dict[str, Any] = {}

    def strategy(self, key: str) -> str:
        return self.keys.get(key, self.default)

    def mergeable(self, key: str, earlier: str, later: str) -> bool:
        """May two steps' writes of ``key`` be merged: ordered by dependencies, or a strategy for the key."""
        return key in self.keys or self.order.ordered(earlier, later)

    def merge(self, key: str, current: Any, incoming: Any) -> Any:
        """The value ``key`` keeps: a plugin's ``orch_merge_context`` answer, else the registered strategy's."""
        name = self.strategy(key)
        value = self.hooks.merge_context(key=key, current=current, incoming=incoming, strategy=name)
        if value is not None:
            return value
        strategy = self._strategies.get(name)
        if strategy is None:
            try:
                strategy = self._strategies[name] = self.registry.get("merge strategy", name).obj()
            except UsageError as exc:
                raise ContextError(f"cannot merge {key!r}: {exc}") from None
        return strategy.merge(key, current, incoming)
