"""``orch run --dry-run`` and ``orch why``: would each step run or be a cache hit, and why.

Nothing runs. Steps are walked in plan order and each cacheable step's fingerprint is
computed as the run would compute it, then looked up through the cache hooks. The
output of an upstream step is known when that step would be a hit (its stored
delta) or lies outside the plan (the recorded context); for an upstream step that
would run, its output is predicted from the latest recorded run, and the verdicts
resting on that prediction name the step in ``assumes``. A step that would run is
explained against the last fingerprint recorded for it: which part changed, down to
the file (``Data/numbers.csv changed (sha256 03de…→2e84…)``), or what the cache
itself lacks (the marker ``.cache/K.done``, a missing input). The hit-or-miss decision
is the run's own (caching.lookup). File digests come from the state store's stat
fast path; a dry run reads the files it must but records nothing.
"""

from __future__ import annotations

from typing import Any

from orchestrator_core.run.caching import lookup, reacts_to_hit, replay
from orchestrator_core.run.file_digests import FileDigests
from orchestrator_core.run.fingerprint import (
    FingerprintError, Fingerprinter, Lineage, UpstreamArtifacts, artifacts, carried_outputs, changes, digest,
    last_values, starting_values,
)
from orchestrator_core.plugin.hooks import Hooks
from orchestrator_core.run.state import Run
from orchestrator_core.recipe.prepare import PreparedStep
from orchestrator_core.state.store import StateStore

RUN = "run"
HIT = "hit"


def explain(run: Run, prepared: dict[str, PreparedStep], hooks: Hooks) -> list[dict[str, Any]]:
    """One entry per planned step: ``step``, ``would`` (``run``/``hit``), ``reason``, ``changed``..."""
    store = StateStore.open_for_reading(run.config.state_dir)
    try:
        return _Explainer(run, prepared, hooks, store).walk()
    finally:
        if store is not None:
            store.close()


class _Explainer:
    def __init__(self, run: Run, prepared: dict[str, PreparedStep], hooks: Hooks, store: StateStore | None):
        self.run = run
        self.prepared = prepared
        self.hooks = hooks
        self.store = store
        self.recipe = run.recipe.name
        latest = store.latest_run(self.recipe) if store else None
        self.latest_id = latest.id if latest else None
        self.recorded = store.step_outputs(latest.id) if store and latest else {}
        config = run.config
        self.fingerprinter = Fingerprinter(FileDigests(config.state_dir, remember=False), config.workdir,
                                           config.data_dir)
        self.outputs: dict[str, dict[str, Any] | None] = {}  # None: unknown (never ran)
        self.artifacts: dict[str, list[str]] = {}  # artifacts of the steps that would be hits
        self.assumed: dict[str, set[str]] = {}
        self.carried = carried_outputs(run.context)  # what steps outside the plan wrote
        self.depends_on = {s.name: s.depends_on for s in run.recipe.steps}
        self.lineage = Lineage(self.depends_on, self._outputs)
        self.upstream_artifacts = UpstreamArtifacts(self.depends_on, lambda name: self.artifacts.get(name, []))
        starting = starting_values(run.context)
        self.starting = digest(starting) if starting else None

    def _outputs(self, name: str) -> dict[str, Any]:
        """What step ``name`` wrote or is expected to write (``{}`` when that is not known)."""
        if name in self.outputs:
            return self.outputs[name] or {}
        return self.carried.get(name, {})

    def walk(self) -> list[dict[str, Any]]:
        try:
            return [self._step(item.name) for item in self.run.plan]
        finally:
            self.fingerprinter.digests.close()

    def _step(self, name: str) -> dict[str, Any]:
        step = self.prepared[name].step
        entry: dict[str, Any] = {"step": name, "cacheable": step.cache, "would": RUN, "reason": "",
                                 "changed": [], "assumes": [], "key": None, "previous_key": None}
        if not step.cache:
            entry["reason"] = "not cacheable (the step has no cache_key and no cache: true)"
        elif not self.run.config.cache:
            entry["reason"] = "the cache is off (--no-cache)"
        else:
            self._cacheable(step, entry)
        if entry["would"] == RUN:
            self.outputs[name] = self._predicted(name)
            self.assumed[name] = {name}
        return entry

    def _cacheable(self, step: Any, entry: dict[str, Any]) -> None:
        assumes: set[str] = set()
        unknown = []
        for dep in step.depends_on:
            if dep in self.outputs:
                if self.outputs[dep] is None:
                    unknown.append(dep)
                assumes |= self.assumed.get(dep, set())
        handler = self.prepared[step.name].handler
        previous = self.store.fingerprint(self.recipe, step.name) if self.store else None
        try:
            inputs = self.fingerprinter.inputs(step, handler, self.lineage, self._artifacts(step, handler, previous),
                                               self.starting)
        except FingerprintError as exc:
            entry["reason"] = str(exc)
            return
        found = lookup(step, inputs, self.hooks, self.run, self.fingerprinter.digests)
        key = found.fingerprint.key if found.fingerprint else None
        entry.update(key=key, previous_key=previous["key"] if previous else None, assumes=sorted(assumes))
        if unknown:
            entry["reason"] = (f"upstream step {unknown[0]!r} has never run, so its output (part of the "
                               "fingerprint) is not known yet")
            entry["changed"] = [f"upstream:{d}" for d in unknown]
            return
        # The stored writes only: a prediction runs no scriptlet code, on_cache_hit included.
        stored = replay(self.prepared[step.name], found.entry, self.run, react=False) \
            if found.entry is not None else None
        if stored is not None and found.entry is not None:
            self.artifacts[step.name] = artifacts(found.entry.extras)
            entry["would"] = HIT
            entry["reason"] = "its fingerprint is in the cache"
            if reacts_to_hit(handler):
                entry["reason"] += " (then its on_cache_hit runs; should that fail, the step runs instead)"
            if assumes:
                names = ", ".join(map(repr, sorted(assumes)))
                same = "writes what it wrote" if len(assumes) == 1 else "write what they wrote"
                entry["reason"] += f" (if {names} {same} last time)"
            self.outputs[step.name] = last_values(stored)
            self.assumed[step.name] = assumes
            return
        if previous is None:
            entry["reason"] = found.reason or "never run (no fingerprint recorded for this step)"
            return
        changed = changes(previous["inputs"], inputs, self.depends_on)
        entry["changed"] = [part for part, _ in changed]
        messages = [message for _, message in changed]
        if found.reason and not (changed and "is missing" in found.reason):
            messages.append(found.reason)
        entry["reason"] = "; ".join(messages) or (
            "fingerprint unchanged, but not in the cache (cleared with `orch cache clear`?)")

    def _artifacts(self, step: Any, handler: Any, previous: dict[str, Any] | None) -> list[str]:
        """The upstream artifacts the run would fingerprint ``step`` with.

        A dependency that would be a hit replays its stored ``artifact``; for one that
        would run (or lies outside the plan) the files its last fingerprint covered
        beyond what ``step`` itself declares are taken as its artifacts, as for outputs.
        """
        found = self.upstream_artifacts.of_steps(step.depends_on)  # every step before it, as in the run
        if previous is not None and any(dep not in self.artifacts for dep in step.depends_on):
            own = set(self.fingerprinter.declared(step, handler))
            found.extend(name for name in (previous["inputs"].get("files") or {}) if name not in own | set(found))
        return found

    def _predicted(self, name: str) -> dict[str, Any] | None:
        """What a step that would run is expected to write: what it wrote in the latest run."""
        if name in self.recorded:
            return self.recorded[name]
        if self.store is not None and self.store.succeeded(self.recipe, name):
            return {}  # it ran and wrote nothing
        return None
