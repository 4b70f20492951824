"""orch: a plugin-based recipe orchestrator.

The public API for scriptlet and plugin authors. Names are imported on first use
(PEP 562), so ``import orchestrator_core`` costs almost nothing: ``orch --help``
and every worker process that imports one scriptlet stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._markers import __version__, hookimpl, hookspec
from .lazy import lazy_exports

if TYPE_CHECKING:
    from .api import run_recipe
    from .config import Config
    from .context import Context, StepContext
    from .errors import (
        ContextConflictError, ContextError, OrchError, RecipeError, RunInterrupted, ScriptletError,
        StepFailedError, UsageError, error_record,
    )
    from .interfaces import (
        Executor, ExecutorCapabilities, ExecutorOption, MergeStrategy, RunOption, StepProblem, StepType,
    )
    from .log import get_logger
    from .model import METRICS_KEY, Recipe, RunResult, Step, StepResult, StepTask, Write
    from .resources import track_resources
    from .run import Run
    from .scriptlet import BaseScriptlet, discover_scriptlets
    from .server.runs import serve_run

_LAZY = {
    "run_recipe": "api",
    "Config": "config",
    "Context": "context", "StepContext": "context",
    "ContextConflictError": "errors", "ContextError": "errors", "OrchError": "errors", "RecipeError": "errors",
    "RunInterrupted": "errors", "ScriptletError": "errors", "StepFailedError": "errors", "UsageError": "errors",
    "error_record": "errors",
    "Executor": "interfaces", "ExecutorCapabilities": "interfaces", "ExecutorOption": "interfaces",
    "MergeStrategy": "interfaces", "RunOption": "interfaces", "StepProblem": "interfaces", "StepType": "interfaces",
    "get_logger": "log",
    "METRICS_KEY": "model", "Recipe": "model", "RunResult": "model", "Step": "model", "StepResult": "model",
    "StepTask": "model",
    "Write": "model",
    "track_resources": "resources",
    "Run": "run",
    "serve_run": "server.runs",
    "BaseScriptlet": "scriptlet", "discover_scriptlets": "scriptlet",
}

__all__ = sorted([*_LAZY, "__version__", "hookimpl", "hookspec"])


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
