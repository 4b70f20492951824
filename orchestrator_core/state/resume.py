"""Where a ``--resume-from`` or ``--only`` run starts: the context an earlier run recorded.

Such a run starts from the latest recorded run of the same recipe (by name): the
last value of each key in that run, which includes what that run itself carried
over from the run it resumed, leaving out what the steps the run will run again
wrote, and what the steps after them wrote. A step run again so reads what its
upstream steps wrote, as it did when the whole recipe ran, not what it or a later
step wrote over it (``a`` sets ``k``, ``b`` reads it, ``c`` sets it again:
``--resume-from b`` gives ``b`` the ``k`` of ``a``). A key that merges the writes of
several steps (``ctx.append``, ``ctx.update``, a merge strategy) is rebuilt from the
contributions of the steps not run again (:mod:`.replay`); where that cannot be done
(a store recorded before the write operations were), it keeps its last value and a
warning says so. When the latest run stopped early (it failed, or was interrupted) before an
upstream step of the selection ran, the keys that step wrote in the latest run where
it succeeded are added, where the context lacks them. The writes keep the step and
run that made them, so the cache can still tell what an upstream step wrote.

``--only`` also checks that every step it depends on outside the selection has
succeeded in some recorded run of the recipe; otherwise the keys it would read were
never written, and the run stops before anything starts.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Collection, Container, Mapping, Sequence

from orchestrator_core.errors import ContextError, UsageError
from orchestrator_core.model import Recipe, Step, Write
from orchestrator_core.run.write_ops import applied, combined

logger = logging.getLogger("orchestrator.resume")


def recorded_start(
    config: Any, recipe: Recipe, plan: Sequence[Step], *, only: Sequence[str], resume_from: str | None,
    merging: Callable[[], Any] | None = None,
) -> tuple[str | None, list[Write]]:
    """The id of the run to start from and the writes of its context (``None, []`` for a fresh run).

    ``merging`` gives the recipe's ``MergePolicy`` (asked for only when a merged key is
    rebuilt with a merge strategy). With no recorded run, ``--resume-from`` starts from an empty context, as the
    guide defines it ("assumes prior context is reproducible or not needed"): a
    warning says so, and :func:`missing_upstream` names what the run lacks. Raises
    :class:`UsageError` when a step ``--only`` selects depends on a step that never succeeded.
    """
    if not only and not resume_from:
        return None, []
    from orchestrator_core.state.store import DB_NAME, StateStore

    store = StateStore.open_for_reading(config.state_dir)
    where = config.state_dir / DB_NAME
    try:
        latest = store.latest_run(recipe.name) if store else None
        if resume_from and latest is None:
            logger.warning("--resume-from %s: no recorded run of recipe %r in %s; starting from an empty context "
                           "(plus the recipe's context and --set)", resume_from, recipe.name, where)
        if only or latest is not None:
            _check_dependencies(store, recipe, plan, refuse=bool(only))
        if latest is None:
            return None, []
        again = _run_again_and_after(recipe, plan)
        context, mixed = store.context_without(latest.id, again)
        unknown = _rebuild_merged(store, recipe, context, set(mixed), again, latest.id, merging)
        if unknown:
            logger.warning("context keys that merge the writes of steps this run runs again start with the value "
                           "the latest run ended with, those steps' contributions included (how they were "
                           "merged is not recorded): %s", ", ".join(map(repr, unknown)))
        _add_missing_upstream(store, recipe, again, context, latest.id, latest.flags.get("plan"))
    finally:
        if store is not None:
            store.close()
    writes: list[Write] = []
    for key, entry in context.items():
        if "writes" in entry:  # a merged key, as its contributions and the value they give
            writes += entry["writes"]
            continue
        op = entry.get("op", "set")
        if op is None and entry["who"] != "merge":
            op = "set"  # a plain write recorded before write operations were: a set
        writes.append(Write(key, entry["value"], entry["who"], entry["step"], entry["run"], entry["ts"] or "", op))
    return latest.id, writes


def _rebuild_merged(store: Any, recipe: Recipe, context: dict[str, Any], mixed: Collection[str],
                    again: Collection[str], latest: str, merging: Callable[[], Any] | None) -> list[str]:
    """Give each merged key of ``context`` the writes it starts with (``entry["writes"]``); the ``mixed``
    keys (a step run ``again`` contributed) that cannot be rebuilt, which keep their last value.

    A merged key no step run again contributed to keeps its recorded value, carried with its
    contributions so that a run resumed from this one can rebuild it. Recipes without merged
    keys pay for none of this: the keys are told by the ``op`` of the entry already read.
    """
    from orchestrator_core.state.replay import carried_writes, starting_writes

    merged = [key for key, entry in context.items() if entry["op"] == "merge" or key in mixed]
    if not merged:
        return []
    rows = store.key_writes(latest, merged)
    positions = {step.name: step.index for step in recipe.steps}
    merge = _lazy_merge(merging)
    unknown = []
    for key in merged:
        entry = context[key]
        if key in mixed:
            writes = starting_writes(key, rows.get(key, []), latest, again, positions, merge)
        else:
            writes = carried_writes(key, rows.get(key, []), latest, entry["value"])
        if writes is None:
            entry["op"] = None  # carried as a value whose making is not known: a later resume says so too
            if key in mixed:
                unknown.append(key)
        elif not writes:
            del context[key]  # only steps run again contributed
        else:
            last = writes[-1]
            entry.update(value=last.value, who=last.who, step=next((w.step for w in reversed(writes) if w.step),
                                                                     None), writes=writes)
    return unknown


def _lazy_merge(merging: Callable[[], Any] | None) -> Callable[[str, Any, Any], Any]:
    """``MergePolicy.merge`` of the recipe, the policy made at the first merge (most rebuilds need none)."""
    policy = None

    def merge(key: str, current: Any, incoming: Any) -> Any:
        nonlocal policy
        if policy is None:
            if merging is None:
                raise ContextError(f"cannot merge {key!r}: no merge strategies to merge it with")
            policy = merging()
        return policy.merge(key, current, incoming)

    return merge


def _add_missing_upstream(store: Any, recipe: Recipe, again: Collection[str], context: dict[str, Any],
                          latest: str, latest_plan: Collection[str] | None) -> None:
    """Fill ``context`` with the keys of upstream steps the latest run never reached.

    ``again``: the steps the run runs again and every step after them, whose writes are
    left out here too (a step after the selection wrote from what the selection wrote before).
    ``latest_plan``: the steps the latest run set out to run (``None``: not recorded); a
    warning names those whose values come from an earlier run, since the latest run failed
    before or at them. A step it did not select had its values from that earlier run too.

    Its cost follows the recipe, not the history: a step that succeeded in the latest
    run is settled by one query over that run (what it wrote is in ``context``, or
    was overwritten there); the others are looked for in the runs before, newest
    first, until each is found; and only the writes of those steps are decoded.
    """
    present = {entry["step"] for entry in context.values()}
    settled = store.succeeded_steps(latest)
    known = set(again) | present | settled
    wanted = [s.name for s in recipe.steps if s.name not in known]
    by_run: dict[str, list[str]] = {}
    for step, run_id in store.last_successes(recipe.name, wanted, looked_at=latest).items():
        by_run.setdefault(run_id, []).append(step)
    step_writes: dict[str, dict[str, list[dict[str, Any]]]] = {}  # step -> key -> its writes there, in order
    known_keys = set(context)  # kept as they are: their writes are not even decoded
    for run_id, steps in by_run.items():
        for write in store.step_writes(run_id, steps, except_keys=known_keys):
            step_writes.setdefault(write["step"], {}).setdefault(write["key"], []).append(write)
    if not step_writes:
        return  # every key the upstream steps wrote is in the context already
    accumulated: set[str] = set()  # keys added here from accumulating writes: later steps' add to them
    used: dict[str, str] = {}  # step -> the earlier run its values come from
    for step in recipe.steps:  # in recipe order: where two steps set a key, the first one's write is kept
        for key, writes in step_writes.get(step.name, {}).items():
            op, value = _step_contribution(key, writes)
            if key not in context:
                used[step.name] = writes[-1]["run"]
                context[key] = dict(writes[-1], value=value, op="set")
                if op != "set":
                    accumulated.add(key)
            elif key in accumulated and op != "set":
                try:
                    context[key]["value"] = applied(key, context[key]["value"], op, value)
                except ContextError:
                    pass  # not a list (or mapping) to add to: the first step's value stays, as for a set
    if latest_plan is not None:
        planned = set(latest_plan)
        used = {step: run for step, run in used.items() if step in planned}
    if used:  # the latest run failed before, or at, these steps: say whose values the run starts with
        logger.warning("the latest run (%s) has no success of %s: the run starts with what %s in an earlier run (%s)",
                       latest, ", ".join(map(repr, used)), "it wrote" if len(used) == 1 else "they wrote",
                       ", ".join(sorted(set(used.values()))))


def _step_contribution(key: str, writes: list[dict[str, Any]]) -> tuple[str, Any]:
    """What a step's writes of ``key`` amount to: ``("set", value)``, or ``(op, the value they give on
    their own)`` for accumulating ones (the items appended, as a list; the mapping merged in).

    A row recorded before write operations were has no ``op``: it reads as a ``set``, as before.
    """
    try:
        op, payload = combined(key, [Write(key, w["value"], w["who"], w["step"], op=w["op"] or "set")
                                     for w in writes])
    except ContextError:
        return "set", writes[-1]["value"]
    return op, payload


def _run_again_and_after(recipe: Recipe, plan: Sequence[Step]) -> set[str]:
    """The steps of ``plan`` and every step that depends on one of them, however far.

    Passes over the recipe until one adds nothing: a ``--resume-from`` plan holds every step
    after its first already (one pass), and recipes list steps after their dependencies
    nearly always (two).
    """
    found = {s.name for s in plan}
    grew = True
    while grew:
        grew = False
        for step in recipe.steps:
            if step.name not in found and not found.isdisjoint(step.depends_on):
                found.add(step.name)
                grew = True
    return found


def _check_dependencies(store: Any, recipe: Recipe, plan: Sequence[Step], *, refuse: bool) -> None:
    """Name the steps the selection depends on that never succeeded in a recorded run.

    ``--only`` (``refuse``) stops with a :class:`UsageError`: what those steps write was
    never written. ``--resume-from`` starts anyway, as the guide defines it ("assumes prior
    context is reproducible or not needed"), with a warning naming them.
    """
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
    if not refuse:
        logger.warning("--resume-from: %s; the run starts without what %s writes", reasons,
                       ", ".join(map(repr, deps)))
        return
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
