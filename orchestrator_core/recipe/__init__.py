"""Recipes: YAML read with the line of every value, the structural checks, params checks,
preparing each step (handler and executor), planning and selection, finding recipes by name."""

from __future__ import annotations

from orchestrator_core.lazy import lazy_exports

_LAZY = {'read_recipe': 'read', 'parse_recipe': 'read'}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
