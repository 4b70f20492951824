"""Checks that need the installed plugins, and the prepared form of each step.

After :func:`prepare_steps` succeeds, every step has a handler (what runs it) and
an executor name, so a run never discovers a bad recipe half-way through.
"""

from __future__ import annotations

import logging
import re

from orchestrator_core.errors import Problem, RecipeError, UsageError, did_you_mean
from orchestrator_core.plugin.hooks import Hooks
from orchestrator_core.plugin.interfaces import DEFAULT_PARALLEL, DEFAULT_REQUIRES_PROCESS, DEFAULT_SERIAL
from orchestrator_core.plugin.known import install_hint
from orchestrator_core.recipe.conflicts import strategy_problems, undeclared_outputs_warnings, write_conflicts
from orchestrator_core.model import Recipe, Step, StepHandler
from orchestrator_core.records import FrozenRecord
from orchestrator_core.recipe.read import sorted_problems
from orchestrator_core.plugin.registry import Registry

logger = logging.getLogger("orchestrator.validation")


class PreparedStep(FrozenRecord):
    """A step ready to run: its handler, the executor it goes to, and whether it may overlap."""

    __slots__ = ("step", "handler", "executor", "parallel")

    def __init__(self, step: Step, handler: StepHandler, executor: str, parallel: bool):
        self.step = step
        self.handler = handler
        self.executor = executor
        self.parallel = parallel


def step_fields(registry: Registry) -> dict[str, dict]:
    """Step type name → extra recipe keys it accepts (for the recipe reader)."""
    return {entry.name: dict(entry.obj.fields) for entry in registry.entries("step type")}


def prepare_steps(
    recipe: Recipe, registry: Registry, hooks: Hooks, *, default_executor: str | None = None
) -> dict[str, PreparedStep]:
    """Check ``recipe`` against the installed plugins and prepare every step.

    Raises :class:`RecipeError` listing every problem, each at its line.
    """
    filename = recipe.path or "<recipe>"
    problems: list[Problem] = []
    prepared: dict[str, PreparedStep] = {}
    executors = set(registry.names("executor"))
    defaults = registry.default_executors()
    debug = logger.isEnabledFor(logging.DEBUG)  # the message's arguments cost more than the rest of a step here
    # Looked up once per name, not once per step (a recipe of 1,000 steps has a few of each).
    step_types: dict[str, type] = {}
    out_of_process_executors: dict[str, bool] = {}  # executor name -> runs its steps out of process
    for step in recipe.steps:
        step_class = step_types.get(step.type)
        if step_class is None:
            try:
                step_class = step_types[step.type] = registry.get("step type", step.type).obj
            except UsageError as exc:
                problems.append(Problem(f"step {step.name!r}: {exc}", filename, step.line_of("type")))
                continue
        step_type = step_class()  # one per step, as a step type may keep what validate found for prepare
        found = step_type.validate(step, recipe, registry)
        if found:
            problems.extend(Problem(p.message, filename, step.line_of(p.field) if p.field else step.line)
                            for p in found)
            continue
        handler = step_type.prepare(step, recipe, registry)
        executor = _choose_executor(step, handler, defaults, default_executor)
        if executor not in executors:
            problems.append(Problem(
                f"step {step.name!r}: executor {executor!r} is not installed"
                f"{install_hint('executor', executor) or did_you_mean(executor, executors)}; "
                f"installed: {', '.join(sorted(executors))} (see `orch plugins list`)",
                filename, step.line_of("executor"),
            ))
            continue
        parallel = step.parallelizable if step.parallelizable is not None else handler.parallelizable
        out_of_process = out_of_process_executors.get(executor)
        if out_of_process is None:
            out_of_process = out_of_process_executors[executor] = (
                registry.get("executor", executor).obj.capabilities.out_of_process)
        prepared[step.name] = PreparedStep(step, handler, executor, bool(parallel or out_of_process))
        if debug:
            logger.debug("step %r: %s on executor %r%s", step.name, handler.identity, executor,
                         " (parallel)" if prepared[step.name].parallel else "")
    problems.extend(strategy_problems(recipe, registry, hooks, filename))
    if not problems:
        problems.extend(write_conflicts(recipe, [(p.step, p.handler) for p in prepared.values()], filename))
    if not problems:
        problems.extend(_plugin_problems(recipe, hooks, filename))
    if problems:
        raise RecipeError(problems)
    return prepared


def with_plugin_problems(error: RecipeError, registry: Registry, hooks: Hooks,
                         default_executor: str | None = None) -> RecipeError:
    """``error`` (the recipe's structural problems) plus what the installed plugins find in the
    part of the recipe that could be read: every problem in one pass, in line order."""
    if error.partial is None:
        return error
    try:
        prepare_steps(error.partial, registry, hooks, default_executor=default_executor)
    except RecipeError as more:
        file = error.problems[0].file if error.problems else None  # the file as the user named it
        found = [Problem(p.message, file, p.line) if file and p.file == error.partial.path else p
                 for p in more.problems]
        return RecipeError(sorted_problems(error.problems + found))
    return error


def _choose_executor(step: Step, handler: StepHandler, defaults: dict[str, str], default: str | None) -> str:
    """The step's ``executor``, else the one declared the default for CPU-bound scriptlets, else the run's default.

    ``defaults`` maps each role to the executor that declared itself its default
    (``Executor.default_for``); ``inline`` (essential) is the default for serial steps.
    """
    if step.executor:
        return step.executor
    if handler.requires_process and DEFAULT_REQUIRES_PROCESS in defaults:
        return defaults[DEFAULT_REQUIRES_PROCESS]
    if default:
        chosen = default
    else:
        parallel = step.parallelizable if step.parallelizable is not None else handler.parallelizable
        serial = defaults.get(DEFAULT_SERIAL, "inline")
        chosen = defaults.get(DEFAULT_PARALLEL, serial) if parallel else serial
    if handler.requires_process:
        logger.warning("step %r requires a process but no installed executor runs such steps "
                       "(pip install orchestrator-process); running it on the %r executor", step.name, chosen)
    return chosen


def _plugin_problems(recipe: Recipe, hooks: Hooks, filename: str) -> list[Problem]:
    problems = []
    names = {s.name: s for s in recipe.steps}
    for message in hooks.validate_recipe(recipe):
        head, _, rest = message.partition(": ")
        step = names.get(head)
        problems.append(Problem(message if step is None else f"step {head!r}: {rest}", filename,
                                step.line if step else None))
    return problems


VERSIONED_KEY = re.compile(r"_v\d+$")


def versioning_warnings(prepared: dict[str, PreparedStep], filename: str) -> list[Problem]:
    """Declared output keys without a ``_vN`` suffix (guide §11: a new shape is a new key),
    and steps that declare no outputs at all (their writes escape the conflict check).

    Warnings, not errors: the recipe still runs; ``orch validate`` prints them with the
    line of the step that uses the scriptlet.
    """
    warnings = []
    seen: set[str] = set()
    for item in prepared.values():
        warnings += undeclared_outputs_warnings([(item.step, item.handler.outputs, item.handler.who)], filename)
        for key in sorted(item.handler.outputs or ()):
            if not VERSIONED_KEY.search(key) and key not in seen:
                seen.add(key)
                warnings.append(Problem(
                    f"step {item.step.name!r}: output key {key!r} has no version suffix "
                    f"(name it like '{key}_v1' so a later shape can be '{key}_v2')", filename, item.step.line))
    return warnings
