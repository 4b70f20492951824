"""The Python scriptlet contract (BaseScriptlet), its handler, and running one scriptlet alone."""

from __future__ import annotations

from orchestrator_core.lazy import lazy_exports

_LAZY = {'BaseScriptlet': 'base', 'LazyScriptlet': 'base', 'discover_scriptlets': 'base', 'scriptlet_name': 'base'}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
