"""One invocation of orch: its plugins, what they registered, and its configuration.

Built by a factory and passed around (never a module global), so tests and
``run_recipe`` calls can each have their own.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from orchestrator_core.config import Config
from orchestrator_core.run.context import RESERVED_PREFIX, Context
from orchestrator_core.run.engine import Engine
from orchestrator_core.run.merging import MergePolicy
from orchestrator_core.errors import OrchError, RecipeError, RunInterrupted, RunStopped, UsageError
from orchestrator_core.recipe.gc_pause import collection_paused
from orchestrator_core.plugin.hooks import Hooks
from orchestrator_core.recipe.lookup import find_recipe
from orchestrator_core.model import METRICS_KEY, STATUS_ERROR, STATUS_INTERRUPTED, STATUS_OK, Recipe, RunResult
from orchestrator_core.recipe.plan import plan_order, select_steps, split_names
from orchestrator_core.plugin.manager import OrchPluginManager, create_plugin_manager
from orchestrator_core.recipe.cache import load_recipe
from orchestrator_core.plugin.registry import Registry
from orchestrator_core.run.state import Run, new_run_id
from orchestrator_core.run.step_exit import guard_os_exit
from orchestrator_core.state.resume import missing_upstream, recorded_start
from orchestrator_core.recipe.prepare import PreparedStep, prepare_steps, step_fields, with_plugin_problems

logger = logging.getLogger("orchestrator.session")


class Session:
    """Plugins + registry + configuration; loads recipes and runs them."""

    def __init__(self, config: Config | None = None, pm: OrchPluginManager | None = None, *,
                 registry: Registry | None = None, **pm_options: Any):
        """``config`` is complete when given: the plugins see it (``orch_configure``), then it is read-only.

        ``registry`` reuses what the plugins of ``pm`` registered (the command line
        reads it before it knows the options, to offer the options executors declare).
        """
        self.config = config or Config()
        self.pm = pm or create_plugin_manager(**pm_options)
        self.config.pluginmanager = self.pm
        self.hooks = Hooks(self.pm)
        if not self.pm.configured:
            self.hooks.configure(self.config)
            self.pm.configured = True
        self.config.freeze()
        self._registry: Registry | None = registry

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
            try:
                return load_recipe(path, step_fields(self.registry))
            except RecipeError as exc:
                raise with_plugin_problems(exc, self.registry, self.hooks, self.config.executor) from None

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
        self._check_executors({prepared[step.name].executor for step in plan})
        origin, carried = recorded_start(self.config, recipe, plan, only=only, resume_from=resume_from,
                                         merging=lambda: MergePolicy(recipe, self.hooks, self.registry))
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
        if resume_from and origin is None:
            missing = missing_upstream(recipe, plan, {n: p.handler.outputs for n, p in prepared.items()}, ctx)
            if missing:
                logger.warning("--resume-from %s: the run starts without %s", resume_from, missing)
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
        # The JSON lines keep the real stdout; anything a step prints goes to stderr. A step in
        # orch's own process that calls os._exit fails instead of ending the process (step_exit.py).
        saved_stdout = self.config.stdout
        self.config.stdout = saved_stdout or sys.stdout
        try:
            with contextlib.redirect_stdout(sys.stderr), guard_os_exit():
                self._start_execute_finish(run, prepared)
        finally:
            self.config.stdout = saved_stdout
        return self._result(run)

    def _start_execute_finish(self, run: Run, prepared: dict[str, PreparedStep]) -> None:
        """``orch_run_start``, the steps, then ``orch_run_finish`` whatever happened (pytest's ``wrap_session``).

        Once ``orch_run_start`` has been called, ``orch_run_finish`` is called exactly
        once: after the last step, or after a plugin or executor raised (status
        ``error``, the exception then propagates), or after Ctrl-C (``interrupted``,
        raised as :class:`RunInterrupted`). So a run is never left recorded as running
        and a server started for it is stopped. Exit status 2 means nothing ran, so an
        ``OrchError`` of status 2 raised once the run started is re-raised as status 1.
        What stopped the run is its ``reason`` (recorded with its end); a run a plugin
        gave a reason (an output it could not write) is not ok either.
        """
        status = STATUS_ERROR
        try:
            self.hooks.run_start(run=run)
            Engine(run, prepared, self.hooks, self.registry).execute()
            # ok only when every planned step has an ok result: a step the engine never ran is no success
            done = all(step.name in run.results and run.results[step.name].ok for step in run.plan)
            status = STATUS_OK if done and run.reason is None else STATUS_ERROR
        except KeyboardInterrupt:
            status = STATUS_INTERRUPTED
        except OrchError as exc:
            run.reason = run.reason or str(exc)
            if exc.exit_code == 2 and run.results:
                raise RunStopped(f"the run stopped after {len(run.results)} step(s): {exc}") from exc
            raise
        except Exception as exc:
            run.reason = run.reason or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._finish(run, status)
        if status == STATUS_INTERRUPTED:
            raise RunInterrupted(self._result(run))

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
        from orchestrator_core.run.explain import explain

        run, prepared = self.plan(reference, context=context, only=only, skip=skip, resume_from=resume_from)
        return explain(run, prepared, self.hooks)

    def _check_executors(self, names: set[str]) -> None:
        """Ask every executor the plan needs whether it can run as configured, before anything runs.

        A refusal (``--process-workers 0``) is a :class:`UsageError`: exit 2, nothing ran.
        """
        for name in sorted(names):
            self.registry.get("executor", name).obj(self.config).check()

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
            context=run.context.to_dict, not_run=[s.name for s in run.plan if s.name not in run.results],
            duration_ms=round(((run.finished or time.time()) - run.started) * 1000, 3), reason=run.reason,
        )
