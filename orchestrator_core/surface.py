"""The public surface of orch for plugin authors: the modules a plugin may import.

Everything else in ``orchestrator_core`` is the core's own business and may change
in any release (the layout of the core is being regrouped by concern); a test keeps
the bundled plugins to this list, and third-party plugins should keep to it too.
The names of the top-level package are listed in ``orchestrator_core.__all__``.
"""

from __future__ import annotations

PUBLIC_MODULES: dict[str, str] = {
    "orchestrator_core": "hookimpl, hookspec, the scriptlet contract, core types and errors, run_recipe",
    "orchestrator_core.scriptlet": "BaseScriptlet, discover_scriptlets",
    "orchestrator_core.model": "plain data: Recipe, Step, StepTask, StepResult, Write, STATUS_*, METRICS_KEY",
    "orchestrator_core.errors": "the errors, and the guide's error record (error_record, error_from_exception)",
    "orchestrator_core.interfaces": "base classes of step types and executors, their options and capabilities",
    "orchestrator_core.execution": "execute_task: the one harness every executor runs a task with",
    "orchestrator_core.run": "Run: a run as the lifecycle hooks see it",
    "orchestrator_core.config": "Config: the settings of an invocation (read-only once configured)",
    "orchestrator_core.context": "Context, StepContext and the reserved key prefix",
    "orchestrator_core.hooks": "Hooks: the typed facade, for a command that calls a hook (orch_report)",
    "orchestrator_core.lookup": "a pack's recipes and scripts found by name",
    "orchestrator_core.params_check": "surely_valid: the quick check of params against a JSON schema",
    "orchestrator_core.recorded": "recorded runs read back from the state store as a Run",
    "orchestrator_core.cli.common": "what a command a plugin adds uses: the session holder, --json, --state-dir",
    "orchestrator_core.lazy": "lazy_exports: PEP 562 lazy names for a plugin's package",
    "orchestrator_core.standalone": "run_scriptlet: one scriptlet run alone, as a pack's unit tests do",
    "orchestrator_core.testing": "the pytest plugin: fixtures for pack authors",
    "orchestrator_core.contracts": "contract test bases for executors, step types and caches",
    "orchestrator_core.recipe_values": "the limits on numbers in recipes and options (MAX_WORKERS, MAX_SECONDS)",
    "orchestrator_core.durations": "format_duration: the one way durations are shown to people",
    "orchestrator_core.dag_drawing": "the DAG's layered layout and its SVG, shared by reports and the dashboard",
    "orchestrator_core.dag_text": "the DAG as layered text for a terminal",
    "orchestrator_core.timeline_drawing": "a run's steps on a time axis as SVG",
}
"""Module → what a plugin finds there."""
