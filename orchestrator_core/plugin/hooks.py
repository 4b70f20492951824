"""Typed facade over the hooks: the engine calls these methods, never ``pm.hook`` directly.

A misspelt keyword argument then fails when the module is type-checked or first
imported, not in the middle of a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator_core.records import Record

if TYPE_CHECKING:
    import click
    import pluggy

    from orchestrator_core.config import Config
    from orchestrator_core.model import Recipe, Step, StepResult, Write
    from orchestrator_core.run.state import Run


class Registration(Record):
    """What one plugin answered to a registration hook (or the error it raised)."""

    __slots__ = ("plugin", "provided", "error")

    def __init__(self, plugin: str, provided: list[Any], error: Exception | None = None):
        self.plugin = plugin
        self.provided = provided
        self.error = error


class Hooks:
    """One method per hook, forwarding keyword arguments to the plugin manager."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self._hook = pm.hook

    def for_run(self, run: Run) -> Hooks:
        """These hooks for ``run``, once ``orch_run_start`` was called: the per-step hooks called
        directly, without the built-in implementations that are idle for the run (direct_calls.py)."""
        from orchestrator_core.plugin.direct_calls import DirectHooks, idle_implementations

        hooks = Hooks(self.pm)
        hooks._hook = DirectHooks(self.pm, idle_implementations(self.pm, run))
        return hooks

    def heard(self, hook_name: str) -> bool:
        """Whether calling ``hook_name`` now may reach an implementation (always, unless :meth:`for_run`
        found none for the run): the runner skips the work of preparing a call nobody receives."""
        unheard = getattr(getattr(self._hook, hook_name), "unheard", None)
        return unheard is None or not unheard()

    # set-up
    def configure(self, config: Config) -> None:
        self._hook.orch_configure.call_historic(kwargs={"config": config})

    def add_commands(self, cli: click.Group) -> None:
        self._hook.orch_add_commands(cli=cli)

    # registration
    def impls(self, hook_name: str) -> list[Any]:
        return getattr(self.pm.hook, hook_name).get_hookimpls()  # pluggy's, also for a run's hooks (for_run)

    def registrations(self, hook_name: str) -> list[Registration]:
        """What each plugin registers through ``hook_name``, in call order (the plugin registered last first).

        The hook is called through pluggy (so ``ORCH_TRACE_PLUGINS`` traces it and
        ``wrapper=True`` implementations wrap it) once per plugin that implements it,
        with every other registering plugin left out: that is how the registry knows
        who registered what. A plugin whose implementation raises gets a
        :class:`Registration` with the ``error``; the others are unaffected.
        """
        hook = getattr(self._hook, hook_name)
        answering = [i for i in hook.get_hookimpls() if not (i.wrapper or i.hookwrapper)]
        found = []
        for impl in reversed(answering):  # pluggy calls get_hookimpls() from the end
            others = [i.plugin for i in answering if i is not impl]
            try:
                answers = self.pm.subset_hook_caller(hook_name, remove_plugins=others)()
            except Exception as exc:  # noqa: BLE001 - a broken pack must not break the rest
                found.append(Registration(impl.plugin_name, [], exc))
                continue
            provided = [item for answer in answers
                        for item in (answer if isinstance(answer, (list, tuple)) else [answer])]
            found.append(Registration(impl.plugin_name, provided))
        return found

    def validate_recipe(self, recipe: Recipe) -> list[str]:
        problems: list[str] = []
        for answer in self._hook.orch_validate_recipe(recipe=recipe):
            problems.extend(answer or [])
        return problems

    def report(self, run: Run, out_dir: Path) -> list[str]:
        paths: list[str] = []
        for answer in self._hook.orch_report(run=run, out_dir=out_dir):
            paths.extend(answer or [])
        return paths

    # lifecycle
    def run_start(self, run: Run) -> None:
        self._hook.orch_run_start(run=run)

    def before_step(self, run: Run, step: Step) -> None:
        self._hook.orch_before_step(run=run, step=step)

    def external_writes(self, run: Run) -> list[Write]:
        writes: list[Write] = []
        for answer in self._hook.orch_external_writes(run=run):
            writes.extend(answer or [])
        return writes

    def record_steps(self, run: Run, finished: list[tuple[Step, StepResult, float]]) -> None:
        self._hook.orch_record_steps(run=run, finished=finished)

    def after_step(self, run: Run, step: Step, result: StepResult) -> None:
        self._hook.orch_after_step(run=run, step=step, result=result)

    def on_step_error(self, run: Run, step: Step, result: StepResult, error: dict[str, Any]) -> None:
        self._hook.orch_on_step_error(run=run, step=step, result=result, error=error)

    def run_finish(self, run: Run) -> None:
        self._hook.orch_run_finish(run=run)

    # decisions
    def cache_key(self, step: Step, inputs: dict[str, Any], run: Run | None = None) -> str | None:
        return self._hook.orch_cache_key(step=step, inputs=inputs, run=run)

    def cache_get(self, key: str, run: Run | None = None, step: Step | None = None) -> list[Write] | Any:
        return self._hook.orch_cache_get(key=key, run=run, step=step)

    def cache_put(self, key: str, delta: list[Write], run: Run | None = None, step: Step | None = None,
                  result: StepResult | None = None) -> bool | None:
        return self._hook.orch_cache_put(key=key, delta=delta, run=run, step=step, result=result)

    def merge_context(self, key: str, current: Any, incoming: Any, strategy: str) -> Any:
        return self._hook.orch_merge_context(key=key, current=current, incoming=incoming, strategy=strategy)
