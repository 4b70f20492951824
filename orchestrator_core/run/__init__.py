"""Running a recipe: the session, the engine's loop, the harness every executor runs, the
context and its merging, fingerprints and resource measurement."""

from __future__ import annotations

from orchestrator_core.lazy import lazy_exports

_LAZY = {'Run': 'state', 'new_run_id': 'state'}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
