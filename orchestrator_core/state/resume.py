"""Where a ``--resume-from`` or ``--only`` run starts: the context an earlier run recorded.

Such a run starts from the latest recorded run of the same recipe (by name): the
last value of each key in that run, which includes what that run itself carried
over from the run it resumed. When that run stopped early (it failed, or was
interrupted) before an upstream step of the selection ran, the keys that step wrote
in the latest run where it succeeded are added, where the context lacks them. The
writes keep the step and run that made them, so the cache can still tell what an
upstream step wrote.

``--only`` also checks that every step it depends on outside the selection has
succeeded in some recorded run of the recipe; otherwise the keys it would read were
never written, and the run stops before anything starts.
"""

from __future__ import annotations

import logging
from typing import Any, Container, Mapping, Sequence

from ..errors import UsageError
from ..model import Recipe, Step, Write

logger = logging.getLogger("orchestrator.resume")


def recorded_start(
    config: Any, recipe: Recipe, plan: Sequence[Step], *, only: Sequence[str], resume_from: str | None
) -> tuple[str | None, list[Write]]:
    """The id of the run to start from and the writes of its context (``None, []`` for a fresh run).

    With no recorded run, ``--resume-from`` starts from an empty context, as the
    guide defines it ("assumes prior context is reproducible or not needed"): a
    warning says so, and :func:`missing_upstream` names what the run lacks. Raises
    :class:`UsageError` when a step ``--only`` selects depends on a step that never succeeded.
    """
    if not only and not resume_from:
        return None, []
    from .store import DB_NAME, StateStore

    store = StateStore.open(config.state_dir, create=False)
    where = config.state_dir / DB_NAME
    try:
        latest = store.latest_run(recipe.name) if store else None
        if resume_from and latest is None:
            logger.warning("--resume-from %s: no recorded run of recipe %r in %s; starting from an empty context "
                           "(plus the recipe's context and --set)", resume_from, recipe.name, where)
        if only:
            _check_dependencies(store, recipe, plan)
        if latest is None:
            return None, []
        context = store.context(latest.id)
        _add_missing_upstream(store, recipe, plan, context)
    finally:
        if store is not None:
            store.close()
    writes = [Write(key, entry["value"], entry["who"], entry["step"], entry["run"], entry["ts"] or "")
              for key, entry in context.items()]
    return latest.id, writes


def _add_missing_upstream(store: Any, recipe: Recipe, plan: Sequence[Step], context: dict[str, Any]) -> None:
    """Fill ``context`` with the keys of upstream steps the latest run never reached."""
    selected = {s.name for s in plan}
    present = {entry["step"] for entry in context.values()}
    for step in recipe.steps:
        if step.name in selected or step.name in present:
            continue
        run_id = store.last_success(recipe.name, step.name)
        if run_id is None:
            continue
        written = {w["key"]: w for w in store.writes(run_id) if w["step"] == step.name and not w["carried"]}
        for key, write in written.items():  # the last write of each key, where the context lacks the key
            context.setdefault(key, write)


def _check_dependencies(store: Any, recipe: Recipe, plan: Sequence[Step]) -> None:
    selected = {s.name for s in plan}
    missing: list[tuple[str, str]] = []  # (step, dependency that never succeeded)
    known: dict[str, bool] = {}
    for step in plan:
        for dep in step.depends_on:
            if dep in selected:
                continue
            if dep not in known:
                known[dep] = store is not None and store.succeeded(recipe.name, dep)
            if not known[dep]:
                missing.append((step.name, dep))
    if not missing:
        return
    reasons = "; ".join(f"step {step!r} depends on {dep!r}, which has never succeeded in a recorded run "
                        f"of {recipe.name!r}" for step, dep in missing)
    deps = list(dict.fromkeys(dep for _, dep in missing))
    names = " ".join([*deps, *(s.name for s in plan)])
    raise UsageError(f"--only: {reasons}; run {', '.join(map(repr, deps))} first, "
                     f"or select {'it' if len(deps) == 1 else 'them'} too (--only {names})")


def missing_upstream(recipe: Recipe, plan: Sequence[Step], outputs: Mapping[str, Any], present: Container[str]) -> str:
    """What a run starting at ``plan`` lacks from the steps before it: ``""`` when nothing.

    ``outputs`` maps each step to its declared output keys (``None``: not declared);
    ``present`` holds the keys the starting context has.
    """
    selected = {s.name for s in plan}
    keys: list[str] = []
    undeclared: list[str] = []
    for step in recipe.steps:
        if step.name in selected:
            continue
        declared = outputs.get(step.name)
        if declared is None:
            undeclared.append(step.name)
        else:
            keys += [k for k in sorted(declared) if k not in present and k not in keys]
    parts = [f"keys {', '.join(map(repr, keys))}"] if keys else []
    if undeclared:
        names = ", ".join(map(repr, undeclared))
        parts.append(f"whatever step {names} writes (it declares no outputs)" if len(undeclared) == 1
                     else f"whatever steps {names} write (they declare no outputs)")
    return " and ".join(parts)
