"""How the core runs a Python scriptlet class: :class:`PythonHandler`, and a scriptlet's registered name.

Part of the scriptlet contract rather than of the ``python`` step type, so that
running one scriptlet alone (:mod:`orchestrator_core.scriptlet.standalone`) and the step type
(:mod:`orchestrator_core.builtin.python_step`) both build on it without importing
each other. Imports nothing else of the core but the digest and the record base.
"""

from __future__ import annotations

import functools
import inspect
import re
from pathlib import Path
from typing import Any

from orchestrator_core.digest import sha256_hex
from orchestrator_core.records import FrozenRecord

__all__ = ["PythonHandler", "scriptlet_name"]


def scriptlet_name(cls: type) -> str:
    """The registered name of a scriptlet class: its ``name``, else its class name in snake_case."""
    declared = getattr(cls, "name", "")
    if declared:
        return declared
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


# Where BaseScriptlet is defined (named, not imported: base.py imports this module).
_BASE_SCRIPTLET = ("orchestrator_core.scriptlet.base", "BaseScriptlet")


@functools.cache
def _kept_from_base(cls: type, name: str) -> bool:
    """True when ``cls`` takes ``name`` from ``BaseScriptlet`` unchanged (it does not override it)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return (klass.__module__, klass.__qualname__) == _BASE_SCRIPTLET
    return False


class PythonHandler(FrozenRecord):
    """Runs one scriptlet class; pickles by reference to the class, so it travels anywhere.

    What every run of the step reads from the class (its identity, name, outputs and
    accumulated keys) is worked out once, at the first read, not at each run of the step.
    """

    __slots__ = ("cls", "_facts")
    _unequal = ("_facts",)

    def __init__(self, cls: type):
        self.cls = cls

    def _read(self) -> tuple[str, str, frozenset[str] | None, frozenset[str]]:
        try:
            return self._facts
        except AttributeError:
            cls = self.cls
            accumulates = frozenset(cls.accumulates or ())
            outputs = None if cls.outputs is None and not accumulates else frozenset(cls.outputs or ()) | accumulates
            self._facts = (f"{cls.__module__}:{cls.__qualname__}", scriptlet_name(cls), outputs, accumulates)
            return self._facts

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        return None, {"cls": self.cls}  # what it worked out is worked out again where it lands

    @property
    def identity(self) -> str:
        return self._read()[0]

    @property
    def who(self) -> str:
        return self._read()[1]

    @property
    def outputs(self) -> frozenset[str] | None:
        """Declared outputs and accumulated keys; ``None`` when the scriptlet declares neither."""
        return self._read()[2]

    @property
    def accumulates(self) -> frozenset[str]:
        return self._read()[3]

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
        return sha256_hex(source)

    @property
    def declares_files(self) -> bool:
        """Whether the scriptlet can name files it reads: a cache hit asks only those that can."""
        if _kept_from_base(self.cls, "files"):
            return bool(self.cls.file_params)
        return getattr(self.cls, "files", None) is not None

    @property
    def reacts_to_cache_hit(self) -> bool:
        """Whether the scriptlet overrides ``on_cache_hit``: the base's does nothing, so a hit
        skips building a context for it."""
        return getattr(self.cls, "on_cache_hit", None) is not None and not _kept_from_base(self.cls, "on_cache_hit")

    def declared_files(self, params: dict[str, Any], workdir: Path, data_dir: Path) -> list[str | Path]:
        """The files the scriptlet says it reads (``BaseScriptlet.files``), for the fingerprint."""
        files = getattr(self.cls, "files", None)
        return list(files(params, workdir, data_dir)) if files is not None else []

    def on_cache_hit(self, ctx: Any, params: dict[str, Any]) -> None:
        """Let the scriptlet record that it was a cache hit (``BaseScriptlet.on_cache_hit``)."""
        if getattr(self.cls, "on_cache_hit", None) is not None:
            self.cls().on_cache_hit(ctx, params)

    def execute(self, ctx: Any, params: dict[str, Any]) -> Any:
        scriptlet = self.cls()
        scriptlet.validate(ctx, params)
        return scriptlet.run(ctx, params)
