"""The runner's side of the cache: fingerprint a step, ask the cache, check the marker, replay or store.

One decision, :func:`lookup`, serves both the run (:class:`RunCache`, used by the
engine) and the dry run (``orch why``, ``orch run --dry-run``), so what they say is
what a run does. A cacheable step is a hit only when all of these hold:

* the cache hooks (``orch_cache_key``, ``orch_cache_get``) answer with a stored result
  for its fingerprint, which covers its code, params, ``cache_key``, everything written
  upstream of it, the values the run started with and the content of the files it reads
  (fingerprint.py);
* every file it declares exists (a missing one is a miss, and the result is not stored);
* for a step with ``cache_key: K``, the guide's marker ``.cache/K.done`` exists under
  the working directory (the runner writes it after storing a successful miss);
* the files the stored result reported as ``artifact`` still exist, with the content they
  had when it was stored (their digests are kept in the stored extras under
  :data:`ARTIFACT_DIGESTS`, which a hit's JSON line does not show).

On a hit the step does not run: its stored writes are replayed, then its handler's
``on_cache_hit`` may add writes of its own (``BaseScriptlet.on_cache_hit``), in this
process, so a scriptlet can say it was a hit in the same run.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator_core.run.context import StepContext
from orchestrator_core.errors import utc_timestamp
from orchestrator_core.run.file_digests import FileDigests
from orchestrator_core.run.fingerprint import (
    FingerprintError, Fingerprinter, Lineage, artifacts, carried_outputs, digest, last_values, missing_files,
    UpstreamArtifacts, reported_artifacts, starting_values,
)
from orchestrator_core.model import STATUS_OK, CachedResult, Fingerprint, Step, StepResult, Write
from orchestrator_core.records import Record

if TYPE_CHECKING:
    from orchestrator_core.plugin.hooks import Hooks
    from orchestrator_core.run.state import Run
    from orchestrator_core.recipe.prepare import PreparedStep

logger = logging.getLogger("orchestrator.cache")

MARKER_DIR = ".cache"
# In a stored result's extras: artifact → SHA-256 of its content when the result was stored.
ARTIFACT_DIGESTS = "_orch_artifact_sha256"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def marker_name(cache_key: str) -> str:
    """``K.done`` for a ``cache_key`` that is a safe file name, else a digest of it."""
    name = cache_key if _SAFE_NAME.fullmatch(cache_key) and not cache_key.startswith(".") else digest(cache_key)
    return f"{name}.done"


def marker_path(workdir: str | Path, cache_key: str) -> Path:
    """The guide's marker of a step with ``cache_key``: ``<working directory>/.cache/K.done``."""
    return Path(workdir) / MARKER_DIR / marker_name(cache_key)


def clear_markers(workdir: Path) -> int:
    """Remove the guide's markers (``.cache/*.done``) under ``workdir``; return how many.

    Only the markers and their half-written files: anything else a user keeps in
    ``.cache/`` stays, and so does the folder when it is not empty.
    """
    folder = Path(workdir) / MARKER_DIR
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.iterdir():
        if path.is_file() and (path.suffix == ".done" or path.name.endswith(".part")):
            path.unlink(missing_ok=True)
            removed += path.suffix == ".done"
    with contextlib.suppress(OSError):
        folder.rmdir()
    return removed


def write_marker(path: Path, step: Step, run: Run, key: str) -> None:
    """Write the marker of a stored result (what it stands for, for a reader of ``.cache/``)."""
    document = {"recipe": run.recipe.name, "step": step.name, "cache_key": step.cache_key, "fingerprint": key,
                "run": run.id, "ts": utc_timestamp()}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{run.id}.part")
    temporary.write_text(json.dumps(document) + "\n", encoding="utf-8")
    temporary.replace(path)


def as_entry(stored: Any) -> CachedResult:
    """A cache's answer as a :class:`CachedResult` (plugins may return just the list of writes)."""
    return stored if isinstance(stored, CachedResult) else CachedResult(list(stored))


class Lookup(Record):
    """The cache's answer for one step: its fingerprint, the stored result on a hit, why not otherwise."""

    __slots__ = ("fingerprint", "entry", "reason")

    def __init__(self, fingerprint: Fingerprint | None, entry: CachedResult | None = None, reason: str = ""):
        self.fingerprint = fingerprint
        self.entry = entry
        self.reason = reason  # why it is a miss when the cache alone knows it (marker, missing file...)


def lookup(step: Step, inputs: dict[str, Any], hooks: Hooks, run: Run, digests: FileDigests) -> Lookup:
    """Decide hit or miss for ``step`` with fingerprint ``inputs``; nothing is run or written.

    ``digests`` hashes the stored result's artifacts, to tell one changed since it was stored.
    """
    key = hooks.cache_key(step=step, inputs=inputs, run=run)
    if not key:
        return Lookup(None, reason="no cache plugin gave it a fingerprint")
    fingerprint = Fingerprint(key, inputs)
    missing = missing_files(inputs)
    if missing:
        return Lookup(fingerprint, reason=f"{missing[0]} is missing (a step with a missing input is not cached)")
    stored = hooks.cache_get(key=key, run=run, step=step)
    if stored is None:
        return Lookup(fingerprint)
    workdir = run.config.workdir
    if step.cache_key and not marker_path(workdir, step.cache_key).is_file():
        return Lookup(fingerprint, reason=f"the marker {MARKER_DIR}/{marker_name(step.cache_key)} is gone")
    entry = as_entry(stored)
    if entry.extras:
        names = artifacts(entry.extras)
        gone = [name for name in names if not (Path(workdir) / name).exists()]
        if gone:
            return Lookup(fingerprint, reason=f"its artifact {gone[0]} is gone")
        expected = entry.extras.get(ARTIFACT_DIGESTS)
        if isinstance(expected, dict):
            changed = [name for name in names if name in expected
                       and digests.digest(str(Path(workdir) / name)) != expected[name]]
            if changed:
                return Lookup(fingerprint, reason=f"its artifact {changed[0]} changed since the result was stored")
    return Lookup(fingerprint, entry)


def shown_extras(entry: CachedResult) -> dict[str, Any]:
    """The extra JSON-line fields a hit reports: the stored ones, without the artifacts' digests."""
    return {name: value for name, value in entry.extras.items() if name != ARTIFACT_DIGESTS}


def reacts_to_hit(handler: Any) -> bool:
    """Whether the scriptlet has an ``on_cache_hit`` that runs on a hit."""
    return callable(getattr(handler, "on_cache_hit", None)) and getattr(handler, "reacts_to_cache_hit", True)


def replay(prepared: PreparedStep, entry: CachedResult, run: Run, *, react: bool = True) -> list[Write] | None:
    """The delta of a hit: the stored writes, attributed to ``run``, then what ``on_cache_hit`` writes
    (``react=False``: not called, for a prediction that must run nothing: ``--dry-run``, ``orch why``).

    A failing ``on_cache_hit`` makes the step run instead (a warning says why): ``None``.
    """
    step, handler = prepared.step, prepared.handler
    delta = []
    if entry.writes:
        now = utc_timestamp()
        delta = [Write(w.key, w.value, w.who, step.name, run.id, now, w.op) for w in entry.writes]
    if not react or not reacts_to_hit(handler):
        return delta
    method = handler.on_cache_hit
    ctx = StepContext(run.context, step=step.name, who=handler.who, run_id=run.id, outputs=handler.outputs,
                      data_dir=run.config.data_dir, workdir=run.config.workdir)
    try:
        method(ctx, dict(step.params))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the step runs instead, whatever the exception's class
        logger.warning("step %r: on_cache_hit failed (%s: %s); the step runs instead", step.name,
                       type(exc).__name__, exc)
        return None
    replaced = {w.key for w in ctx.delta}
    return [w for w in delta if w.key not in replaced] + ctx.delta


class RunCache:
    """The cache decisions of one run: fingerprints, hits, and storing what missed."""

    def __init__(self, run: Run, hooks: Hooks):
        config = run.config
        self.run = run
        self.hooks = hooks
        self.digests = FileDigests(config.state_dir)
        self.fingerprinter = Fingerprinter(self.digests, config.workdir, config.data_dir)
        self.misses: dict[str, Fingerprint | None] = {}  # step -> fingerprint, until its result is known
        depends_on = {s.name: s.depends_on for s in run.recipe.steps}
        self.lineage = Lineage(depends_on, self._outputs)
        self.upstream_artifacts = UpstreamArtifacts(depends_on, reported_artifacts(run.results))
        self._carried: dict[str, dict[str, Any]] | None = None  # what steps outside this run wrote
        self._starting: tuple[str | None] | None = None  # the digest of the values the run started with

    def _outputs(self, name: str) -> dict[str, Any]:
        """What step ``name`` wrote: in this run, or as the run's context carries it (not run here)."""
        result = self.run.results.get(name)
        if result is not None and result.ok:
            return last_values(result.delta)
        if self._carried is None:
            self._carried = carried_outputs(self.run.context)
        return self._carried.get(name, {})

    def _starting_digest(self) -> str | None:
        if self._starting is None:
            values = starting_values(self.run.context)
            self._starting = (digest(values) if values else None,)
        return self._starting[0]

    def hit(self, prepared: PreparedStep) -> StepResult | None:
        """The result of ``prepared`` from the cache, or ``None`` when it must run."""
        step = prepared.step
        if not step.cache:
            return None
        if not self.run.config.cache:
            self.misses[step.name] = None
            return None
        started = time.monotonic()
        try:
            inputs = self.fingerprinter.inputs(step, prepared.handler, self.lineage,
                                               self.upstream_artifacts.of_steps(step.depends_on),
                                               self._starting_digest())
        except FingerprintError as exc:
            logger.warning("step %r is a cache miss and is not stored: %s", step.name, exc)
            self.misses[step.name] = None
            return None
        found = lookup(step, inputs, self.hooks, self.run, self.digests)
        self.misses[step.name] = found.fingerprint
        if found.entry is None:
            if found.reason:
                logger.info("step %r is a cache miss: %s", step.name, found.reason)
            return None
        delta = replay(prepared, found.entry, self.run)
        if delta is None:
            return None
        del self.misses[step.name]
        return StepResult(step.name, STATUS_OK, delta=delta, extras=shown_extras(found.entry), cache="hit",
                          fingerprint=found.fingerprint,
                          metrics={"duration_ms": round((time.monotonic() - started) * 1000, 3)})

    def store(self, step: Step, result: StepResult) -> None:
        """Once ``step``'s final result is known: store a successful miss and write its marker.

        Every successful cacheable step's line says ``"cache"``: ``"hit"`` or ``"miss"``
        (also with ``--no-cache``, where nothing is read or stored).
        """
        if not step.cache or result.cache == "hit" or step.name not in self.misses:
            return
        fingerprint = self.misses.pop(step.name)
        if not result.ok:
            return
        result.cache = "miss"
        if fingerprint is None:
            return
        result.fingerprint = fingerprint
        if missing_files(fingerprint.inputs):
            return  # its inputs were not all there: nothing to trust next time
        stored = self.hooks.cache_put(key=fingerprint.key, delta=result.delta, run=self.run, step=step,
                                      result=self._with_artifact_digests(result))
        if stored and step.cache_key:
            try:
                write_marker(marker_path(self.run.config.workdir, step.cache_key), step, self.run, fingerprint.key)
            except OSError as exc:
                logger.warning("could not write the cache marker of step %r: %s", step.name, exc)

    def _with_artifact_digests(self, result: StepResult) -> StepResult:
        """``result`` as the cache stores it: with the digest of each artifact it reported, so a
        later hit can tell an artifact rewritten since (by another run of the step with other
        params, or by hand) from the one this result describes."""
        names = artifacts(result.extras)
        if not names:
            return result
        workdir = Path(self.run.config.workdir)
        found = {name: self.digests.digest(str(workdir / name)) for name in names}
        kept = {name: value for name, value in found.items() if value is not None}
        if not kept:
            return result
        stored = copy.copy(result)  # the step's own result, and its JSON line, stay as they are
        stored.extras = {**result.extras, ARTIFACT_DIGESTS: kept}
        return stored

    def close(self) -> None:
        self.digests.close()
