"""The ``shell`` step type: checks a step, finds its script, prepares its handler.

``script:`` is a path relative to the recipe's folder (or absolute), or the file name
of a script an installed pack ships (``pack:NAME`` chooses the pack): packs ship scripts
in the folders they register with ``orch_register_recipe_dirs``, next to (or apart from)
their recipes. A file next to the recipe wins over a pack's script of the same name, and
a pack's own recipes run its own scripts; a name two other packs ship is an error naming
both. A script that is missing or not executable is a problem at the line of ``script:``,
so ``orch validate`` and ``orch run`` report it (exit status 2) before anything runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from orchestrator_core.plugin.interfaces import StepProblem, StepType


class FoundScript:
    """Where a step's ``script:`` points, or why it points nowhere.

    A plain class: this module is imported at every start of ``orch``, and a dataclass
    compiles its generated methods at import.
    """

    __slots__ = ("path", "problem")

    def __init__(self, path: Path | None, problem: str | None = None):
        self.path = path
        self.problem = problem

    def __repr__(self) -> str:
        return f"FoundScript(path={self.path!r}, problem={self.problem!r})"


class ShellStepType(StepType):
    """``type: shell``: run an executable script that prints one JSON status line."""

    name = "shell"
    fields = {"script": str, "args": list, "inputs": list, "outputs": list}

    def validate(self, step: Any, recipe: Any, registry: Any) -> list[StepProblem]:
        where = f"step {step.name!r}"
        problems = []
        if step.uses:
            problems.append(StepProblem(f"{where}: a shell step runs a script: use 'script: NAME' instead of "
                                        f"'uses: {step.uses}'", "uses"))
        script = step.options.get("script")
        if not script:
            problems.append(StepProblem(f"{where}: a shell step needs 'script: <path or name of a script>'"))
        else:
            found = find_script(script, recipe, registry)
            if found.problem:
                problems.append(StepProblem(f"{where}: {found.problem}", "script"))
        problems.extend(_list_problems(step, where))
        try:
            json.dumps(dict(step.params), allow_nan=False)
        except (TypeError, ValueError) as exc:
            problems.append(StepProblem(f"{where}: params must be JSON values (strings, numbers, lists, "
                                        f"mappings): {exc}", "params"))
        return problems

    def prepare(self, step: Any, recipe: Any, registry: Any) -> Any:
        from .handler import ShellHandler

        found = find_script(step.options["script"], recipe, registry)
        outputs = step.options.get("outputs")
        return ShellHandler(
            script=str(found.path),
            reference=step.options["script"],
            args=tuple(str(a) for a in step.options.get("args") or ()),
            input_keys=tuple(step.options.get("inputs") or ()),
            declared_outputs=tuple(outputs) if outputs is not None else None,
            timeout=step.timeout,
        )


def _list_problems(step: Any, where: str) -> list[StepProblem]:
    """``args`` must be plain values; ``inputs`` and ``outputs`` context key names."""
    problems = []
    args = step.options.get("args") or []
    bad = [a for a in args if isinstance(a, bool) or not isinstance(a, (str, int, float))]
    if bad:
        problems.append(StepProblem(f"{where}: 'args' must be a list of strings or numbers, got {bad[0]!r}", "args"))
    for key in ("inputs", "outputs"):
        names = step.options.get(key) or []
        bad = [n for n in names if not isinstance(n, str) or not n]
        if bad:
            problems.append(StepProblem(f"{where}: '{key}' must be a list of context key names, got {bad[0]!r}", key))
        elif key == "outputs" and any(n.startswith("_runner.") for n in names):
            problems.append(StepProblem(f"{where}: '_runner.*' keys belong to the runner", key))
    return problems


def find_script(reference: str, recipe: Any, registry: Any) -> FoundScript:
    """Resolve ``script:``: a file next to the recipe, else a pack's script of that name: the
    recipe's own pack's first, so a pack's recipes run its own scripts whatever else is installed."""
    from orchestrator_core.errors import UsageError, did_you_mean
    from orchestrator_core.recipe.lookup import find_script as find_pack_script, list_scripts

    base = Path(recipe.path).parent if recipe.path else Path.cwd()
    candidate = Path(reference).expanduser()
    candidate = candidate if candidate.is_absolute() else base / candidate
    if not candidate.exists() and "/" not in reference:
        try:
            entry = find_pack_script(reference, registry, home=registry.home_plugin(recipe.path))
        except UsageError as exc:
            return FoundScript(None, str(exc))
        if entry is not None:
            candidate = entry.path
        else:
            names = sorted({e.name for e in list_scripts(registry) if e.executable})
            hint = did_you_mean(reference, names)
            return FoundScript(None, f"script {reference!r} not found: no file {candidate}, and no installed pack "
                                     f"ships a script of that name{hint or _known(names)}")
    if not candidate.exists():
        return FoundScript(None, f"script {reference!r} not found: no file {candidate}")
    if not candidate.is_file():
        return FoundScript(None, f"script {reference!r} is not a file: {candidate}")
    if not os.access(candidate, os.X_OK):
        return FoundScript(None, f"script {candidate} is not executable (chmod +x {candidate})")
    return FoundScript(candidate.resolve())


def _known(names: list[str]) -> str:
    return f" (packs' scripts: {', '.join(names)})" if names else ""
