"""The public surface of orch for plugin authors: the modules a plugin may import.

Everything else in ``orchestrator_core`` is the core's own business and may change
in any release (the core is grouped by concern into sub-packages, docs/architecture.md); a test keeps
the bundled plugins to this list, and third-party plugins should keep to it too.
The names of the top-level package are listed in ``orchestrator_core.__all__``.
"""

from __future__ import annotations

PUBLIC_MODULES: dict[str, str] = {
    "orchestrator_core": "hookimpl, hookspec, the scriptlet contract, core types and errors, run_recipe",
    "orchestrator_core.scriptlet": "BaseScriptlet, discover_scriptlets (the package)",
    "orchestrator_core.scriptlet.base": "BaseScriptlet, discover_scriptlets",
    "orchestrator_core.model": "plain data: Recipe, Step, StepTask, StepResult, Write, STATUS_*, METRICS_KEY",
    "orchestrator_core.errors": "the errors, and the guide's error record (error_record, error_from_exception)",
    "orchestrator_core.plugin.interfaces": "base classes of step types and executors, their options and capabilities",
    "orchestrator_core.run.execution": "execute_task: the one harness every executor runs a task with",
    "orchestrator_core.run": "Run, new_run_id (the package)",
    "orchestrator_core.run.state": "Run: a run as the lifecycle hooks see it",
    "orchestrator_core.config": "Config: the settings of an invocation (read-only once configured)",
    "orchestrator_core.run.context": "Context, StepContext and the reserved key prefix",
    "orchestrator_core.plugin.hooks": "Hooks: the typed facade, for a command that calls a hook (orch_report)",
    "orchestrator_core.recipe.lookup": "a pack's recipes and scripts found by name",
    "orchestrator_core.recipe.params": "surely_valid: the quick check of params against a JSON schema",
    "orchestrator_core.run.processes": "the machine's live processes (pid, parent, group), for stopping what a step started",
    "orchestrator_core.run.recorded": "recorded runs read back from the state store as a Run",
    "orchestrator_core.cli.common": "what a command a plugin adds uses: the session holder, --json, --state-dir",
    "orchestrator_core.lazy": "lazy_exports: PEP 562 lazy names for a plugin's package",
    "orchestrator_core.scriptlet.standalone": "run_scriptlet: one scriptlet run alone, as a pack's unit tests do",
    "orchestrator_core.testing": "the pytest plugin: fixtures for pack authors",
    "orchestrator_core.testing.contracts": "contract test bases for executors, step types and caches",
    "orchestrator_core.recipe.values": "the limits on numbers in recipes and options (MAX_WORKERS, MAX_SECONDS)",
    "orchestrator_core.display.durations": "format_duration: the one way durations are shown to people",
    "orchestrator_core.display.dag": "the DAG's layered layout and its SVG, shared by reports and the dashboard",
    "orchestrator_core.display.dag_text": "the DAG as layered text for a terminal",
    "orchestrator_core.display.timeline": "a run's steps on a time axis as SVG",
    "orchestrator_core.display.above_the_bar": "above_a_live_bar: whether text written to a stream goes above the "
                                               "live bar (what other processes print must then go through it)",
}
"""Module → what a plugin finds there."""
