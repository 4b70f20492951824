"""The cache fingerprint of a step: what it covers, its digest, and what changed between two.

A step's fingerprint inputs are the scriptlet's identity and a digest of its source,
its params, the ``cache_key`` the recipe gives it, and, for each step it depends on,
a digest of the values that step wrote. Changing any of them changes the
fingerprint, so the step runs again; nothing else does. The inputs are kept whole
(not just their digest) so ``orch why`` can say which part changed.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from .digest import sha256_hex
from .model import Step, StepHandler, StepResult


def canonical(value: Any) -> str:
    """``value`` as JSON with sorted keys: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(value: Any) -> str:
    return sha256_hex(canonical(value))


def last_values(writes: Iterable[Any]) -> dict[str, Any]:
    """Key → the last value among ``writes`` (``Write`` objects)."""
    return {w.key: w.value for w in writes}


def upstream_outputs(deps: Iterable[str], results: Mapping[str, StepResult], context: Any) -> dict[str, dict]:
    """Dependency → key → the last value it wrote.

    A dependency that ran in this run is read from its result; one that did not (a
    resumed or ``--only`` run) from the writes the run's context carries, which keep
    the name of the step that made them.
    """
    found: dict[str, dict] = {}
    missing = set()
    for dep in deps:
        result = results.get(dep)
        if result is not None and result.ok:
            found[dep] = last_values(result.delta)
        else:
            missing.add(dep)
    if missing:
        for dep in missing:
            found[dep] = {}
        for key in context.keys():
            for write in context.history(key):
                if write["step"] in missing:
                    found[write["step"]][key] = write["value"]
    return found


class Fingerprinter:
    """Builds the fingerprint inputs of steps; reads each scriptlet's source once per run."""

    def __init__(self) -> None:
        self._sources: dict[str, str | None] = {}

    def source(self, handler: StepHandler) -> str | None:
        """Digest of the handler's source (``source_digest()``), ``None`` when it has none."""
        identity = handler.identity
        if identity not in self._sources:
            method = getattr(handler, "source_digest", None)
            self._sources[identity] = method() if callable(method) else None
        return self._sources[identity]

    def inputs(self, step: Step, handler: StepHandler, upstream: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """What the fingerprint of ``step`` covers (the ``inputs`` of ``orch_cache_key``)."""
        return {
            "identity": handler.identity,
            "source": self.source(handler),
            "params": json.loads(canonical(dict(step.params))),
            "cache_key": step.cache_key,
            "upstream": {dep: digest(upstream.get(dep, {})) for dep in step.depends_on},
        }


def fingerprint_key(inputs: Mapping[str, Any]) -> str:
    """The built-in fingerprint: a SHA-256 of the canonical inputs."""
    return digest(inputs)


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What differs between two fingerprint inputs, as ``(part, message)`` pairs.

    ``part`` is ``identity``, ``source``, ``params``, ``cache_key`` or
    ``upstream:<step>``.
    """
    found: list[tuple[str, str]] = []
    if old.get("identity") != new.get("identity"):
        found.append(("identity", f"scriptlet changed: {old.get('identity')} → {new.get('identity')}"))
    elif old.get("source") != new.get("source"):
        found.append(("source", "source of the scriptlet changed"))
    if old.get("params") != new.get("params"):
        found.append(("params", f"params changed: {_dict_changes(old.get('params') or {}, new.get('params') or {})}"))
    if old.get("cache_key") != new.get("cache_key"):
        found.append(("cache_key", f"cache_key changed: {old.get('cache_key')!r} → {new.get('cache_key')!r}"))
    before, after = old.get("upstream") or {}, new.get("upstream") or {}
    for dep in sorted(set(before) | set(after)):
        if dep not in before:
            found.append((f"upstream:{dep}", f"now depends on {dep!r}"))
        elif dep not in after:
            found.append((f"upstream:{dep}", f"no longer depends on {dep!r}"))
        elif before[dep] != after[dep]:
            found.append((f"upstream:{dep}", f"output of upstream step {dep!r} changed"))
    return found


def _dict_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    parts = []
    for key in sorted(set(old) | set(new), key=str):
        if key not in old:
            parts.append(f"{key} added")
        elif key not in new:
            parts.append(f"{key} removed")
        elif old[key] != new[key]:
            parts.append(f"{key}: {canonical(old[key])[:40]} → {canonical(new[key])[:40]}")
    return ", ".join(parts)
