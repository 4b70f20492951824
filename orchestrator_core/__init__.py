"""orch: a plugin-based recipe orchestrator.

The public API for scriptlet and plugin authors. Names are imported on first use
(PEP 562), so ``import orchestrator_core`` costs almost nothing: ``orch --help``
and every worker process that imports one scriptlet stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_core._markers import __version__, hookimpl, hookspec
from orchestrator_core.lazy import lazy_exports
from orchestrator_core._moved import install as _install_moved_paths

if TYPE_CHECKING:
    from orchestrator_core.api import run_recipe
    from orchestrator_core.config import Config
    from orchestrator_core.run.context import Context, StepContext
    from orchestrator_core.errors import (
        ContextConflictError, ContextError, OrchError, RecipeError, RunInterrupted, ScriptletError,
        StepFailedError, UsageError, error_record,
    )
    from orchestrator_core.plugin.interfaces import (
        Executor, ExecutorCapabilities, ExecutorOption, MergeStrategy, RunOption, StepProblem, StepType,
    )
    from orchestrator_core.log import get_logger
    from orchestrator_core.model import METRICS_KEY, Recipe, RunResult, Step, StepResult, StepTask, Write
    from orchestrator_core.run.resources import track_resources
    from orchestrator_core.run.state import Run
    from orchestrator_core.scriptlet.base import BaseScriptlet, LazyScriptlet, discover_scriptlets
    from orchestrator_core.builtin.server import serve_run

_LAZY = {
    "run_recipe": "api",
    "Config": "config",
    "Context": "run.context", "StepContext": "run.context",
    "ContextConflictError": "errors", "ContextError": "errors", "OrchError": "errors", "RecipeError": "errors",
    "RunInterrupted": "errors", "ScriptletError": "errors", "StepFailedError": "errors", "UsageError": "errors",
    "error_record": "errors",
    "Executor": "plugin.interfaces", "ExecutorCapabilities": "plugin.interfaces", "ExecutorOption": "plugin.interfaces",
    "MergeStrategy": "plugin.interfaces", "RunOption": "plugin.interfaces", "StepProblem": "plugin.interfaces", "StepType": "plugin.interfaces",
    "get_logger": "log",
    "METRICS_KEY": "model", "Recipe": "model", "RunResult": "model", "Step": "model", "StepResult": "model",
    "StepTask": "model",
    "Write": "model",
    "track_resources": "run.resources",
    "Run": "run.state",
    "serve_run": "builtin.server",
    "BaseScriptlet": "scriptlet.base", "discover_scriptlets": "scriptlet.base", "LazyScriptlet": "scriptlet.base",
}

__all__ = sorted([*_LAZY, "__version__", "hookimpl", "hookspec"])


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
_install_moved_paths()
