"""The ``python`` step type: a registered scriptlet (``uses:``) or a class by import path.

The guide's form (``module: pkg.steps.compute_range``, ``function: ComputeRange``)
is accepted as well as ``uses: compute_range``.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
from typing import Any

from orchestrator_core._markers import hookimpl
from orchestrator_core.errors import UsageError, did_you_mean
from orchestrator_core.plugin.interfaces import StepProblem, StepType
from orchestrator_core.recipe.params import surely_valid
from orchestrator_core.scriptlet.base import BaseScriptlet
from orchestrator_core.scriptlet.handler import PythonHandler, pin_source

__all__ = ["PythonHandler", "PythonStepType", "import_scriptlet", "params_problems"]  # PythonHandler: its old home


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
        raise UsageError(f"cannot import module {module!r}: {exc}{_not_on_path_hint(module, exc)}") from None
    pin_source(mod)  # the cache fingerprint is of the code imported now, whatever the file says later
    cls = getattr(mod, attribute, None)
    if cls is None:
        raise UsageError(f"module {module!r} has no {attribute!r}")
    if not (isinstance(cls, type) and issubclass(cls, BaseScriptlet)):
        raise UsageError(f"{module}.{attribute} is not a BaseScriptlet subclass")
    return cls


def _not_on_path_hint(module: str, exc: ImportError) -> str:
    """Why a module in the working directory is not found: Python does not look there (under the
    ``orch`` command, unlike ``python -m``), unless ``PYTHONPATH`` says so."""
    top = module.split(".")[0]
    if not isinstance(exc, ModuleNotFoundError) or exc.name != top:
        return ""
    if not (os.path.isfile(f"{top}.py") or os.path.isfile(os.path.join(top, "__init__.py"))):
        return ""
    if any(os.path.abspath(entry or ".") == os.getcwd() for entry in sys.path):
        return ""
    return (f"; {top}{'.py' if os.path.isfile(f'{top}.py') else '/'} is in the working directory, where Python "
            "does not look: run with PYTHONPATH=. (or install it)")


def params_problems(step: Any, schema: dict[str, Any]) -> list[StepProblem]:
    """Check ``step.params`` against a scriptlet's JSON schema; each problem at its value's line."""
    if surely_valid(schema, dict(step.params)):
        return []
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in validator.iter_errors(dict(step.params)):
        where = "/".join(["params", *map(str, error.absolute_path)])
        if error.validator == "additionalProperties" and error.validator_value is False:
            problems.extend(_unknown_params(step, where, error))
            continue
        field = where if where in step.lines else "params"
        problems.append(StepProblem(f"step {step.name!r}: {where.replace('/', '.')}: {error.message}", field))
    return sorted(problems, key=lambda p: (step.line_of(p.field) or 0, p.message))


def _unknown_params(step: Any, where: str, error: Any) -> list[StepProblem]:
    """A param name the schema does not know, at its line, with the closest known name (a typo in a
    param gets the same help as a typo in a step key)."""
    known = sorted(error.schema.get("properties", {}))
    patterns = list(error.schema.get("patternProperties", {}))
    problems = []
    for name in sorted(k for k in error.instance if k not in known):
        if any(re.search(pattern, name) for pattern in patterns):
            continue
        field = f"{where}/{name}" if f"{where}/{name}" in step.lines else where
        label = "param" if where == "params" else f"key in {where.replace('/', '.')}"
        problems.append(StepProblem(f"step {step.name!r}: unknown {label} {name!r}{did_you_mean(name, known)}; "
                                    f"known: {', '.join(known) or 'none'}",
                                    field if field in step.lines else "params"))
    return problems


class PythonStepType(StepType):
    name = "python"
    fields = {"module": str, "function": str}

    def _resolve(self, step: Any, registry: Any, recipe: Any = None) -> type:
        """The scriptlet class of ``step``, looked up once: ``validate`` then ``prepare`` ask for it."""
        resolved = getattr(self, "_resolved", None)
        if resolved is not None and resolved[0] is step:
            return resolved[1]
        if step.uses:
            home = registry.home_plugin(getattr(recipe, "path", None))
            cls = registry.get("scriptlet", step.uses, home=home).obj
        else:
            cls = import_scriptlet(step.options["module"], step.options["function"])
        self._resolved = (step, cls)
        return cls

    def validate(self, step: Any, recipe: Any, registry: Any) -> list[StepProblem]:
        has_module = "module" in step.options
        if step.uses and has_module:
            return [StepProblem("give either 'uses' or 'module'/'function', not both", "module")]
        if not step.uses and not has_module:
            return [StepProblem(f"step {step.name!r} needs 'uses: <scriptlet>' (or 'module' and 'function')")]
        if has_module and "function" not in step.options:
            return [StepProblem("'module' needs 'function' (the scriptlet class name)", "module")]
        try:
            cls = self._resolve(step, registry, recipe)
        except UsageError as exc:
            return [StepProblem(str(exc), "uses" if step.uses else "module")]
        return params_problems(step, cls.params_schema) if cls.params_schema else []

    def prepare(self, step: Any, recipe: Any, registry: Any) -> PythonHandler:
        return _handler(self._resolve(step, registry, recipe))


@functools.lru_cache(maxsize=512)
def _handler(cls: type) -> PythonHandler:
    """One handler per scriptlet class: the steps of a class share what it reads from the class once
    (a handler never changes; a fan-out of 1,000 steps of one scriptlet reads the class once)."""
    return PythonHandler(cls)


@hookimpl
def orch_register_step_types() -> list[type]:
    return [PythonStepType]
