"""One invocation of orch: its plugins, what they registered, and its configuration.

Built by a factory and passed around (never a module global), so tests and
``run_recipe`` calls can each have their own.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from .config import Config
from .context import RESERVED_PREFIX, Context
from .engine import METRICS_KEY, Engine
from .errors import RunInterrupted, UsageError
from .gc_pause import collection_paused
from .hooks import Hooks
from .lookup import find_recipe
from .model import STATUS_ERROR, STATUS_OK, Recipe, RunResult
from .planner import plan_order, select_steps, split_names
from .pluginmanager import OrchPluginManager, create_plugin_manager
from .recipe import read_recipe
from .registry import Registry
from .run import Run, new_run_id
from .state.resume import recorded_start
from .validation import PreparedStep, prepare_steps, step_fields


class Session:
    """Plugins + registry + configuration; loads recipes and runs them."""

    def __init__(self, config: Config | None = None, pm: OrchPluginManager | None = None, **pm_options: Any):
        self.config = config or Config()
        self.pm = pm or create_plugin_manager(**pm_options)
        self.config.pluginmanager = self.pm
        self.hooks = Hooks(self.pm)
        if not self.pm.configured:
            self.hooks.configure(self.config)
            self.pm.configured = True
        self._registry: Registry | None = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(self.hooks)
        return self._registry

    def load(self, reference: str | Path | Recipe) -> Recipe:
        """A recipe from a path or a pack's recipe name, structurally checked."""
        if isinstance(reference, Recipe):
            return reference
        path = find_recipe(reference, self.registry)
        with collection_paused():
            return read_recipe(path, step_fields(self.registry))

    def validate(self, recipe: Recipe) -> dict:
        """Check ``recipe`` against the installed plugins; returns the prepared steps."""
        with collection_paused():
            return prepare_steps(recipe, self.registry, self.hooks, default_executor=self.config.executor)

    def plan(
        self,
        reference: str | Path | Recipe,
        *,
        context: Mapping[str, Any] | None = None,
        only: Iterable[str] = (),
        skip: Iterable[str] = (),
        resume_from: str | None = None,
    ) -> tuple[Run, dict[str, PreparedStep]]:
        """Everything a run needs, with nothing run yet: the run (plan, starting context) and its steps.

        A ``--resume-from`` or ``--only`` run starts from the context the latest
        recorded run of the recipe ended with (see :mod:`orchestrator_core.state.resume`);
        the recipe's ``context`` and ``context`` (``--set``) are applied on top.
        Raises ``RecipeError``/``UsageError``.
        """
        recipe = self.load(reference)
        if self.config.executor and self.config.executor not in self.registry.names("executor"):
            self.registry.get("executor", self.config.executor)  # raises with a suggestion
        prepared = self.validate(recipe)
        only, skip = split_names(only), split_names(skip)
        with collection_paused():
            plan = select_steps(plan_order(recipe), only=only, skip=skip, resume_from=resume_from)
        if not plan:
            raise UsageError("the selection leaves no step to run")
        origin, carried = recorded_start(self.config, recipe, plan, only=only, resume_from=resume_from)
        flags = {"only": only, "skip": skip, "resume_from": resume_from, "started_from_run": origin,
                 "keep_going": self.config.keep_going, "executor": self.config.executor,
                 "cache": self.config.cache}
        run_id = new_run_id()
        ctx = Context(run_id=run_id, data_dir=self.config.data_dir, workdir=self.config.workdir)
        for write in carried:
            ctx.record(write)
        reserved = sorted(k for k in context or {} if str(k).startswith(RESERVED_PREFIX))
        if reserved:
            raise UsageError(f"context keys {reserved} are reserved: '{RESERVED_PREFIX}*' keys belong to the runner")
        for key, value in {**recipe.context, **(context or {})}.items():
            ctx.set(key, value, who="initial")
        return Run(recipe, plan, self.config, ctx, id=run_id, flags=flags), prepared

    def run(
        self,
        reference: str | Path | Recipe,
        *,
        context: Mapping[str, Any] | None = None,
        only: Iterable[str] = (),
        skip: Iterable[str] = (),
        resume_from: str | None = None,
    ) -> RunResult:
        """Run a recipe and return its result; never raises for a failed step.

        Raises ``RecipeError``/``UsageError`` (nothing ran) and ``RunInterrupted``.
        """
        run, prepared = self.plan(reference, context=context, only=only, skip=skip, resume_from=resume_from)
        # The JSON lines keep the real stdout; anything a step prints goes to stderr.
        saved_stdout = self.config.stdout
        self.config.stdout = saved_stdout or sys.stdout
        try:
            with contextlib.redirect_stdout(sys.stderr):
                self.hooks.run_start(run=run)
                try:
                    Engine(run, prepared, self.hooks, self.registry).execute()
                except KeyboardInterrupt:
                    self._finish(run, "interrupted")
                    raise RunInterrupted(self._result(run)) from None
                failed = any(not r.ok for r in run.results.values())
                self._finish(run, STATUS_ERROR if failed else STATUS_OK)
        finally:
            self.config.stdout = saved_stdout
        return self._result(run)

    def explain(
        self,
        reference: str | Path | Recipe,
        *,
        context: Mapping[str, Any] | None = None,
        only: Iterable[str] = (),
        skip: Iterable[str] = (),
        resume_from: str | None = None,
    ) -> list[dict[str, Any]]:
        """Without running anything: for each step of the plan, would it run or be a cache hit, and why."""
        from .state.explain import explain

        run, prepared = self.plan(reference, context=context, only=only, skip=skip, resume_from=resume_from)
        return explain(run, prepared, self.hooks)

    def _finish(self, run: Run, status: str) -> None:
        run.status = status
        run.finished = time.time()
        run.context.record_runner_value(METRICS_KEY)
        self.hooks.run_finish(run=run)

    @staticmethod
    def _result(run: Run) -> RunResult:
        steps = {s.name: run.results[s.name] for s in run.plan if s.name in run.results}
        return RunResult(
            run_id=run.id, recipe=run.recipe.name, status=run.status, steps=steps,
            context=run.context.to_dict(), not_run=[s.name for s in run.plan if s.name not in run.results],
            duration_ms=round(((run.finished or time.time()) - run.started) * 1000, 3),
        )
