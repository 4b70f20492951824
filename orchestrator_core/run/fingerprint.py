"""The cache fingerprint of a step: what it covers, its digest, and what changed between two.

A step's fingerprint inputs are the scriptlet's identity and a digest of its source,
its params, the ``cache_key`` the recipe gives it, for each step it depends on the
lineage of that step (a digest of the values it wrote and of the lineage of the steps
it depends on: everything written upstream, however far), the values the run started
with (the recipe's ``context:`` and ``--set``), and the content of the files it
reads: those the recipe lists in ``files:`` (paths and globs), those its scriptlet
declares (``BaseScriptlet.files``) and the ``artifact`` files of the steps it depends
on. Changing any of them changes the fingerprint, so the step runs again; nothing
else does. The inputs are kept whole (not just their digest) so ``orch why`` can say
which part changed, down to the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from orchestrator_core.digest import sha256_hex
from orchestrator_core.run.file_digests import FileDigests
from orchestrator_core.model import Step, StepHandler, StepResult

MAGIC = frozenset("*?[")
# A recipe's ``files:`` entry starting so is in the data directory, wherever --data-dir puts it
# (the name shell steps know it by).
DATA_DIR_PREFIX = "$ORCH_DATA_DIR/"


# One encoder for every fingerprint text: ``json.dumps`` with options builds a new one at
# each call, which was a third of the cost of serialising a step's small inputs.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
# ``JSONEncoder.encode`` still makes its C encoder anew at each call (half the cost of a
# fingerprint's small text): the C encoder made once gives the same text, without the check
# for a value that contains itself (which no recipe, context or fingerprint value can).
_make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_C_CANONICAL = _make_c_encoder and _make_c_encoder(
    None, str, json.encoder.encode_basestring, None, ":", ",", True, False, True)


def canonical(value: Any) -> str:
    """``value`` as JSON with sorted keys: equal values give equal text."""
    if _C_CANONICAL is not None and type(value) is dict:
        try:
            return "".join(_C_CANONICAL(value, 0))
        except RecursionError:  # a value that contains itself: the checking encoder says so
            pass
    return _CANONICAL.encode(value)


def digest(value: Any) -> str:
    return sha256_hex(canonical(value))


def same_json(a: Any, b: Any) -> bool:
    """Whether two values are the same JSON: ``1``, ``1.0`` and ``true`` are not (Python's ``==``
    says they are), nor are ``0.0`` and ``-0.0``."""
    return a is b or canonical([a]) == canonical([b])


EMPTY_DIGEST = digest({})  # the upstream part of a dependency that wrote nothing (most of them)


def last_values(writes: Iterable[Any]) -> dict[str, Any]:
    """Key → the last value among ``writes`` (``Write`` objects)."""
    return {w.key: w.value for w in writes}


def carried_outputs(context: Any) -> dict[str, dict[str, Any]]:
    """Step → key → the last value the run's context holds from that step's writes."""
    found: dict[str, dict[str, Any]] = {}
    for key in context.keys():
        for write in context.history(key):
            if write["step"] is not None:
                found.setdefault(write["step"], {})[key] = write["value"]
    return found


def starting_values(context: Any) -> dict[str, Any]:
    """Key → the value the run started with that no step wrote: the recipe's ``context:`` and
    ``--set`` (and, on resume, what the run carries of an earlier run's)."""
    found: dict[str, Any] = {}
    for key in context.keys():
        for write in context.history(key):
            if write["step"] is None and write["who"] == "initial":
                found[key] = write["value"]
    return found


class Lineage:
    """A digest per step of what it wrote together with what every step before it wrote.

    A step may read any key its ancestors wrote, not only what its dependencies wrote
    (in a chain ``a → b → c``, ``c`` may read ``a``'s key while ``b`` writes the same as
    before), so the fingerprint's part for a dependency is its lineage: the digest of its
    own outputs with the lineage of each of its dependencies. A dependency that has none
    keeps the digest of its outputs alone. Each step's lineage is computed once, without
    recursion (a chain may be 10,000 steps long); ``outputs(step)`` gives what a step
    wrote (``None``: nothing known) and is asked only once the step is settled.
    """

    def __init__(self, depends_on: Mapping[str, Sequence[str]], outputs: Callable[[str], Mapping[str, Any] | None]):
        self._depends_on = depends_on
        self._outputs = outputs
        self._known: dict[str, str] = {}

    def of(self, name: str) -> str:
        return settled_in_order(name, self._depends_on, self._known, self._settle)

    def _settle(self, name: str, deps: Sequence[str], known: Mapping[str, str]) -> str:
        outputs = self._outputs(name)
        own = digest(outputs) if outputs else EMPTY_DIGEST
        return digest({"outputs": own, "before": {dep: known[dep] for dep in deps}}) if deps else own


def settled_in_order(name: str, depends_on: Mapping[str, Sequence[str]], known: dict[str, Any],
                     settle: Callable[[str, Sequence[str], Mapping[str, Any]], Any]) -> Any:
    """``known[name]``, filling in first each step before it not in ``known`` yet: ``settle(step,
    its dependencies, known)``, every step after its dependencies, without recursion (a chain may
    be 10,000 steps long)."""
    pending = [name]
    while pending:
        current = pending[-1]
        if current in known:
            pending.pop()
            continue
        deps = depends_on.get(current, ())
        unknown = [dep for dep in deps if dep not in known]
        if unknown:
            pending.extend(unknown)
            continue
        pending.pop()
        known[current] = settle(current, deps, known)
    return known[name]


def reported_artifacts(results: Mapping[str, StepResult]) -> Callable[[str], list[str]]:
    """What each step reported as ``artifact`` in ``results`` (nothing for a step that failed)."""
    def own(name: str) -> list[str]:
        result = results.get(name)
        return artifacts(result.extras) if result is not None and result.ok else []
    return own


def artifacts(extras: Mapping[str, Any]) -> list[str]:
    """The files a step's JSON line reports as ``artifact`` (a path or a list of paths)."""
    value = extras.get("artifact")
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str) and item]


class UpstreamArtifacts:
    """The artifacts every step before a step reported in this run (a cache hit replays its step's).

    Not only its dependencies': in ``a → b → c`` where ``c`` reads the file ``a`` reported
    and ``b`` writes what it always writes, a new ``a`` file must still make ``c`` run. So
    each step's set is its own artifacts with its dependencies' sets, computed once per step
    and without recursion (as :class:`Lineage` is); a chain that reports none shares one
    empty tuple. ``own(step)`` gives the artifacts a step itself reported; ``of_steps`` is
    asked only once the steps are settled.
    """

    def __init__(self, depends_on: Mapping[str, Sequence[str]], own: Callable[[str], Sequence[str]]):
        self._depends_on = depends_on
        self._own = own
        self._known: dict[str, tuple[str, ...]] = {}

    def _of(self, name: str) -> tuple[str, ...]:
        return settled_in_order(name, self._depends_on, self._known, self._settle)

    def _settle(self, name: str, deps: Sequence[str], known: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
        own = self._own(name)
        parts = [known[dep] for dep in deps if known[dep]]
        return tuple(dict.fromkeys([*own, *(a for part in parts for a in part)])) if own or parts else ()

    def of_steps(self, deps: Iterable[str]) -> list[str]:
        """The artifacts ``deps`` and every step before them reported, each once, nearest first."""
        found: dict[str, None] = {}
        for dep in deps:
            found.update(dict.fromkeys(self._of(dep)))
        return list(found)


def label(path: str | Path, workdir: str) -> str:
    """How a file is named in the fingerprint and in messages: relative to the working directory
    when it lies under it, else absolute (plain string work: this runs for every declared file)."""
    text = os.fspath(path)
    if "/." in text or "//" in text or text.startswith("./") or text.endswith("/"):
        text = os.path.normpath(text)
    if not text.startswith("/"):
        return text
    prefix = workdir.rstrip("/") + "/"
    return text[len(prefix):] if text.startswith(prefix) else text


def is_glob(text: str) -> bool:
    return not MAGIC.isdisjoint(text)


def glob_base(pattern: str) -> str:
    """The folder part of ``pattern`` before its first wildcard (``Data/in/*.csv`` → ``Data/in/``)."""
    parts = pattern.split("/")
    fixed = []
    for part in parts[:-1]:
        if is_glob(part):
            break
        fixed.append(part)
    return "/".join(fixed) + "/" if fixed else "./"


class FingerprintError(Exception):
    """The fingerprint of a step cannot be complete (its ``files()`` failed): the step runs, uncached."""


class Fingerprinter:
    """Builds the fingerprint inputs of steps; reads each scriptlet's source once per run.

    ``digests`` (a :class:`FileDigests`) hashes the files steps read; a third-party
    cache plugin gets the same digests in ``inputs["files"]``.
    """

    def __init__(self, digests: FileDigests | None = None, workdir: str | Path | None = None,
                 data_dir: str | Path | None = None) -> None:
        self._sources: dict[str, str | None] = {}
        self.digests = digests or FileDigests()
        self.workdir = Path(workdir) if workdir else Path.cwd()
        self._workdir = str(self.workdir)
        data = Path(data_dir) if data_dir else Path("Data")
        self.data_dir = data if data.is_absolute() else self.workdir / data
        self._data_prefix = str(self.data_dir).rstrip("/") + "/"

    def source(self, handler: StepHandler) -> str | None:
        """Digest of the handler's source (``source_digest()``), ``None`` when it has none."""
        identity = handler.identity
        if identity not in self._sources:
            method = getattr(handler, "source_digest", None)
            self._sources[identity] = method() if callable(method) else None
        return self._sources[identity]

    def inputs(self, step: Step, handler: StepHandler, lineage: Lineage, artifacts: Iterable[str] = (),
               starting: str | None = None) -> dict[str, Any]:
        """What the fingerprint of ``step`` covers (the ``inputs`` of ``orch_cache_key``).

        ``lineage`` gives each dependency's part; ``starting`` is the digest of
        :func:`starting_values` (``None`` when the run started with none). ``artifacts``
        are the files upstream steps reported. ``inputs["files"]`` maps each declared
        file to its digest (``None`` when it is missing) and each glob to
        ``{matched file: digest}``.
        """
        params = step.params
        found = {
            "identity": handler.identity,
            "source": self.source(handler),
            "params": json.loads(canonical(dict(params))) if params else {},
            "cache_key": step.cache_key,
            "upstream": {dep: lineage.of(dep) for dep in step.depends_on},
        }
        if starting is not None:
            found["context"] = starting
        declared = self.declared(step, handler, artifacts)
        if declared:
            files = self.files(declared)
            if files:
                found["files"] = files
        return found

    def declared(self, step: Step, handler: StepHandler, artifacts: Iterable[str] = ()) -> list[str]:
        """Labels of the files and globs ``step`` reads: recipe ``files:``, the scriptlet's, artifacts."""
        data = self._data_prefix
        named: list[str | Path] = [data + f[len(DATA_DIR_PREFIX):] if f.startswith(DATA_DIR_PREFIX) else f
                                   for f in step.files]
        method = getattr(handler, "declared_files", None)
        if callable(method) and getattr(handler, "declares_files", True):
            try:
                named.extend(method(dict(step.params), self.workdir, self.data_dir))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - a scriptlet's bug, whatever its class, must not stop the run
                raise FingerprintError(f"the scriptlet's files() failed ({type(exc).__name__}: {exc}), so "
                                       "what it reads is unknown") from exc
        named.extend(artifacts)
        return list(dict.fromkeys(label(item, self._workdir) for item in named))

    def files(self, labels: Iterable[str]) -> dict[str, Any]:
        """Label → digest (``None``: missing) for a path, → ``{name: digest}`` for a glob."""
        found: dict[str, Any] = {}
        workdir = self._workdir.rstrip("/") + "/"
        plain: list[tuple[str, str]] = []
        patterns: list[str] = []
        for name in labels:
            if MAGIC.isdisjoint(name):
                plain.append((name, name if name.startswith("/") else workdir + name))
            else:
                patterns.append(name)
        digest = self.digests.digest
        self.digests.prefetch([path for _, path in plain])
        for name, path in plain:
            found[name] = digest(path)
            if found[name] is None and os.path.isdir(path):  # not "missing": a folder has no content digest
                raise FingerprintError(f"{name!r} in its files is a folder, not a file; name its files with a "
                                       f"glob ('{name.rstrip('/')}/**' for all of them, however deep)")
        if patterns:
            import glob  # here: most runs declare no glob, and every run imports this module

        for name in patterns:
            base = os.path.join(workdir, glob_base(name))
            matches: dict[str, str] = {}
            for match in sorted(glob.glob(os.path.join(workdir, name), recursive=True)):
                value = digest(match)
                if value is not None:
                    matches[os.path.relpath(match, base)] = value
            found[name] = matches
        self.digests.flush()
        return found


def fingerprint_key(inputs: Mapping[str, Any]) -> str:
    """The built-in fingerprint: a SHA-256 of the canonical inputs."""
    return digest(inputs)


def changes(old: Mapping[str, Any], new: Mapping[str, Any],
            depends_on: Mapping[str, Sequence[str]] | None = None) -> list[tuple[str, str]]:
    """What differs between two fingerprint inputs, as ``(part, message)`` pairs.

    ``depends_on`` (step → its dependencies) tells a dependency whose part covers only
    its own output (it has none) from one whose part covers the steps before it too.

    ``part`` is ``identity``, ``source``, ``params``, ``cache_key``, ``context``,
    ``file:<path or glob>`` or ``upstream:<step>``.
    """
    found: list[tuple[str, str]] = []
    if old.get("identity") != new.get("identity"):
        found.append(("identity", f"scriptlet changed: {old.get('identity')} → {new.get('identity')}"))
    elif old.get("source") != new.get("source"):
        found.append(("source", "source of the scriptlet changed"))
    if not same_json(old.get("params"), new.get("params")):
        found.append(("params", f"params changed: {_dict_changes(old.get('params') or {}, new.get('params') or {})}"))
    if old.get("cache_key") != new.get("cache_key"):
        found.append(("cache_key", f"cache_key changed: {old.get('cache_key')!r} → {new.get('cache_key')!r}"))
    if old.get("context") != new.get("context"):
        found.append(("context", "the values the run starts with (the recipe's context: or --set) changed"))
    found.extend(_file_changes(old.get("files") or {}, new.get("files") or {}))
    before, after = old.get("upstream") or {}, new.get("upstream") or {}
    for dep in sorted(set(before) | set(after)):
        if dep not in before:
            found.append((f"upstream:{dep}", f"now depends on {dep!r}"))
        elif dep not in after:
            found.append((f"upstream:{dep}", f"no longer depends on {dep!r}"))
        elif before[dep] != after[dep]:
            before_it = "" if depends_on is not None and not depends_on.get(dep) else " or of a step before it"
            found.append((f"upstream:{dep}", f"output of upstream step {dep!r}{before_it} changed"))
    return found


def missing_files(inputs: Mapping[str, Any]) -> list[str]:
    """The declared files (not globs) that do not exist, from fingerprint ``inputs``."""
    return [name for name, value in (inputs.get("files") or {}).items() if value is None]


def _short(value: str) -> str:
    return f"{value[:4]}…"


def _file_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for name in sorted(set(before) | set(after)):
        part = f"file:{name}"
        old, new = before.get(name), after.get(name)
        if name not in before:
            found.append((part, f"now reads {name}"))
        elif name not in after:
            found.append((part, f"no longer reads {name}"))
        elif isinstance(old, dict) or isinstance(new, dict):
            old, new, base = old or {}, new or {}, glob_base(name)
            words = [f"added {f}" for f in sorted(set(new) - set(old))]
            words += [f"removed {f}" for f in sorted(set(old) - set(new))]
            words += [f"{f} changed (sha256 {_short(old[f])}→{_short(new[f])})"
                      for f in sorted(set(old) & set(new)) if old[f] != new[f]]
            if words:
                found.append((part, f"{base} {', '.join(words)}"))
        elif old != new:
            if new is None:
                found.append((part, f"{name} is missing"))
            elif old is None:
                found.append((part, f"{name} was missing, now exists"))
            else:
                found.append((part, f"{name} changed (sha256 {_short(old)}→{_short(new)})"))
    return found


def _dict_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    parts = []
    for key in sorted(set(old) | set(new), key=str):
        if key not in old:
            parts.append(f"{key} added")
        elif key not in new:
            parts.append(f"{key} removed")
        elif not same_json(old[key], new[key]):
            parts.append(f"{key}: {canonical(old[key])[:40]} → {canonical(new[key])[:40]}")
    return ", ".join(parts)
