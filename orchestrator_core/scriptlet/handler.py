"""How the core runs a Python scriptlet class: :class:`PythonHandler`, and a scriptlet's registered name.

Part of the scriptlet contract rather than of the ``python`` step type, so that
running one scriptlet alone (:mod:`orchestrator_core.scriptlet.standalone`) and the step type
(:mod:`orchestrator_core.builtin.python_step`) both build on it without importing
each other. Imports nothing else of the core.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator_core.digest import sha256_hex

__all__ = ["PythonHandler", "scriptlet_name"]


def scriptlet_name(cls: type) -> str:
    """The registered name of a scriptlet class: its ``name``, else its class name in snake_case."""
    declared = getattr(cls, "name", "")
    if declared:
        return declared
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


@dataclass(frozen=True)
class PythonHandler:
    """Runs one scriptlet class; pickles by reference to the class, so it travels anywhere."""

    cls: type

    @property
    def identity(self) -> str:
        return f"{self.cls.__module__}:{self.cls.__qualname__}"

    @property
    def who(self) -> str:
        return scriptlet_name(self.cls)

    @property
    def outputs(self) -> frozenset[str] | None:
        """Declared outputs and accumulated keys; ``None`` when the scriptlet declares neither."""
        if self.cls.outputs is None and not self.cls.accumulates:
            return None
        return frozenset(self.cls.outputs or ()) | frozenset(self.cls.accumulates)

    @property
    def accumulates(self) -> frozenset[str]:
        return frozenset(self.cls.accumulates or ())

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
