"""The ``python`` step type: a registered scriptlet (``uses:``) or a class by import path.

The guide's form (``module: pkg.steps.compute_range``, ``function: ComputeRange``)
is accepted as well as ``uses: compute_range``.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from dataclasses import dataclass
from typing import Any

from orchestrator_core._markers import hookimpl
from orchestrator_core.errors import UsageError
from orchestrator_core.interfaces import StepProblem, StepType
from orchestrator_core.params_check import surely_valid
from orchestrator_core.scriptlet import BaseScriptlet, scriptlet_name


@dataclass(frozen=True)
class PythonHandler:
    """Runs one scriptlet class; pickles by reference to the class, so it travels anywhere."""

    cls: type

    @property
    def identity(self) -> str:
        return f"{self.cls.__module__}:{self.cls.__qualname__}"

    @property
    def who(self) -> str:
        return scriptlet_name(self.cls)

    @property
    def outputs(self) -> frozenset[str]:
        return frozenset(self.cls.outputs or ())

    @property
    def inputs(self) -> tuple[str, ...] | None:
        return tuple(self.cls.inputs) if self.cls.inputs is not None else None

    @property
    def parallelizable(self) -> bool:
        return bool(self.cls.parallelizable)

    @property
    def requires_process(self) -> bool:
        return bool(self.cls.requires_process)

    def source_digest(self) -> str:
        """Digest of the scriptlet's module source: editing the scriptlet changes it."""
        try:
            source = inspect.getsource(inspect.getmodule(self.cls) or self.cls)
        except (OSError, TypeError):
            source = self.identity
        return hashlib.sha256(source.encode("utf-8")).hexdigest()

    def execute(self, ctx: Any, params: dict[str, Any]) -> Any:
        scriptlet = self.cls()
        scriptlet.validate(ctx, params)
        return scriptlet.run(ctx, params)


def import_scriptlet(module: str, attribute: str) -> type:
    """Import ``module`` and return its scriptlet class ``attribute``; raise ``UsageError``.

    Only a dotted module name is imported (``pkg.steps.compute``): a path or a relative
    name (``../../etc/passwd``) is refused before the import system sees it.
    """
    if not all(part.isidentifier() for part in module.split(".")):
        raise UsageError(f"'module' must be a dotted Python module name like 'pkg.steps', got {module!r}")
    if not attribute.isidentifier():
        raise UsageError(f"'function' must be a Python class name, got {attribute!r}")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(f"cannot import module {module!r}: {exc}") from None
    cls = getattr(mod, attribute, None)
    if cls is None:
        raise UsageError(f"module {module!r} has no {attribute!r}")
    if not (isinstance(cls, type) and issubclass(cls, BaseScriptlet)):
        raise UsageError(f"{module}.{attribute} is not a BaseScriptlet subclass")
    return cls


def params_problems(step: Any, schema: dict[str, Any]) -> list[StepProblem]:
    """Check ``step.params`` against a scriptlet's JSON schema; each problem at its value's line."""
    if surely_valid(schema, dict(step.params)):
        return []
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in validator.iter_errors(dict(step.params)):
        where = "/".join(["params", *map(str, error.absolute_path)])
        field = where if where in step.lines else "params"
        problems.append(StepProblem(f"step {step.name!r}: {where.replace('/', '.')}: {error.message}", field))
    return sorted(problems, key=lambda p: (step.line_of(p.field) or 0, p.message))


class PythonStepType(StepType):
    name = "python"
    fields = {"module": str, "function": str}

    def _resolve(self, step: Any, registry: Any) -> type:
        if step.uses:
            return registry.get("scriptlet", step.uses).obj
        return import_scriptlet(step.options["module"], step.options["function"])

    def validate(self, step: Any, recipe: Any, registry: Any) -> list[StepProblem]:
        has_module = "module" in step.options
        if step.uses and has_module:
            return [StepProblem("give either 'uses' or 'module'/'function', not both", "module")]
        if not step.uses and not has_module:
            return [StepProblem(f"step {step.name!r} needs 'uses: <scriptlet>' (or 'module' and 'function')")]
        if has_module and "function" not in step.options:
            return [StepProblem("'module' needs 'function' (the scriptlet class name)", "module")]
        try:
            cls = self._resolve(step, registry)
        except UsageError as exc:
            return [StepProblem(str(exc), "uses" if step.uses else "module")]
        return params_problems(step, cls.params_schema) if cls.params_schema else []

    def prepare(self, step: Any, recipe: Any, registry: Any) -> PythonHandler:
        return PythonHandler(self._resolve(step, registry))


@hookimpl
def orch_register_step_types() -> list[type]:
    return [PythonStepType]
