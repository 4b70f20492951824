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

__all__ = ["PythonHandler", "pin_source", "scriptlet_name"]

# Module name → (the module object, the digest of its source when first read). A process
# that runs recipes again and again (a notebook, a test session, ``run_recipe`` in a loop)
# keeps running the code it imported, whatever the file says later: the fingerprint must
# be that code's, or a result of the old code would be stored under the new source's key.
_PINNED: dict[str, tuple[Any, str]] = {}


def pin_source(module: Any) -> str | None:
    """The digest of ``module``'s source as this process first read it (``None``: no source).

    Called right after the python step type imports a scriptlet's module, so the digest is
    of the code that runs; a module reloaded (a new module object) is read again.
    """
    known = _PINNED.get(module.__name__)
    if known is not None and known[0] is module:
        return known[1]
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return None
    value = sha256_hex(source)
    _PINNED[module.__name__] = (module, value)
    return value


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

    What the runner reads of the class at every run of a step (its identity, name, declared
    outputs, accumulated and input keys, whether it may overlap or needs a process) is read
    once, when the handler is made: plain attributes, not properties. The ``python`` step type
    makes one handler per class for the process (the steps of one scriptlet share it): a class's
    declarations are read once, as a class statement states them (a reloaded module makes new classes).
    """

    __slots__ = ("cls", "identity", "who", "outputs", "accumulates", "inputs", "parallelizable", "requires_process")
    _fields = ("cls",)

    def __init__(self, cls: type):
        self.cls = cls
        self.identity = f"{cls.__module__}:{cls.__qualname__}"
        self.who = scriptlet_name(cls)
        accumulates = getattr(cls, "accumulates", None)
        self.accumulates = frozenset(accumulates or ())
        outputs = getattr(cls, "outputs", None)
        # declared outputs and accumulated keys; None when the scriptlet declares neither
        self.outputs = None if outputs is None and not self.accumulates else frozenset(outputs or ()) | self.accumulates
        inputs = getattr(cls, "inputs", None)
        self.inputs = tuple(inputs) if inputs is not None else None
        self.parallelizable = bool(getattr(cls, "parallelizable", False))
        self.requires_process = bool(getattr(cls, "requires_process", False))

    def __reduce__(self) -> tuple[type, tuple[type]]:
        return PythonHandler, (self.cls,)  # what it read is read again where it lands

    def source_digest(self) -> str:
        """Digest of the scriptlet's module source as this process imported it (:func:`pin_source`):
        editing the scriptlet changes it for the next process that imports it."""
        module = inspect.getmodule(self.cls)
        pinned = pin_source(module) if module is not None else None
        if pinned is not None:
            return pinned
        try:
            source = inspect.getsource(self.cls)
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
