"""The Python scriptlet contract (DESIGN §6, guide §5).

A scriptlet is a class with a ``name``, the ``outputs`` it may write, and two
methods: ``validate`` (check params and context, raise :class:`ScriptletError`)
and ``run`` (do the work, ``ctx.set`` the results). The framework prints the
step's JSON line. A scriptlet written as in the guide (no ``outputs``, prints its
own status line, returns 0 or 1) runs too: its line is adopted into the
framework's (see :mod:`orchestrator_core.scriptlet.adopted_line`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from orchestrator_core.errors import ScriptletError
from orchestrator_core.scriptlet.handler import scriptlet_name

__all__ = ["BaseScriptlet", "ScriptletError", "discover_scriptlets", "scriptlet_name"]


class BaseScriptlet:
    """Base class of Python scriptlets.

    Class attributes:

    ``name``
        The name recipes use (``uses: compute_mean``); unique across installed packs.
    ``outputs``
        Every context key the scriptlet may write. Writing another key fails the step,
        which keeps the additive versioning discipline of the guide (§11) honest, and
        ``orch validate`` rejects two steps no dependency orders that declare one key.
        ``None`` (not declared): any key may be written, and is recorded; conflicts are
        then found only while running.
    ``accumulates``
        Keys the scriptlet only contributes to, with ``ctx.append``/``ctx.update``
        (never ``ctx.set``): steps running side by side may share them, and every
        contribution is kept. They count as outputs.
    ``inputs``
        Context keys the scriptlet reads, when known; an executor in another process
        then ships only these. ``None`` ships the whole context.
    ``parallelizable``
        May run at the same time as other parallelizable steps (on threads).
    ``requires_process``
        CPU-bound: runs on the ``process`` executor unless the recipe says otherwise.
    ``params_schema``
        Optional JSON schema of ``params``.
    ``file_params``
        The params whose values are paths of files the scriptlet reads (a string, or a
        list of strings; globs allowed): a sequence of names, relative to the working
        directory, or a mapping name → ``"workdir"`` / ``"data_dir"``. A cached step's
        fingerprint covers the content of those files (see :meth:`files`).
    """

    name: ClassVar[str] = ""
    outputs: ClassVar[tuple[str, ...] | None] = None
    accumulates: ClassVar[tuple[str, ...]] = ()
    inputs: ClassVar[tuple[str, ...] | None] = None
    parallelizable: ClassVar[bool] = False
    requires_process: ClassVar[bool] = False
    params_schema: ClassVar[dict[str, Any] | None] = None
    file_params: ClassVar[Sequence[str] | Mapping[str, str]] = ()

    def validate(self, ctx: Any, params: dict[str, Any]) -> None:
        """Check ``params`` and the context before any work; raise ``ScriptletError``."""

    def run(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any] | None:
        """Do the work and ``ctx.set`` the outputs; return extra JSON-line fields or ``None``."""
        raise NotImplementedError(f"{type(self).__name__}.run is not implemented")

    @classmethod
    def files(cls, params: Mapping[str, Any], workdir: Path, data_dir: Path) -> list[str | Path]:
        """The files (paths or globs) this step reads with ``params``, for its cache fingerprint.

        Called by the runner, in its own process, before a cached step would run; it
        must not read the files. The default resolves :attr:`file_params`; override it
        when a path is computed (a default, a packaged file).
        """
        bases = dict(cls.file_params) if isinstance(cls.file_params, Mapping) else dict.fromkeys(cls.file_params,
                                                                                                   "workdir")
        found: list[str | Path] = []
        for name, base in bases.items():
            value = params.get(name)
            folder = data_dir if base == "data_dir" else workdir
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and item:
                    found.append(folder / item)
        return found

    def on_cache_hit(self, ctx: Any, params: dict[str, Any]) -> None:
        """Called instead of :meth:`run` when the step is a cache hit; ``ctx.set`` here says so.

        The stored writes are replayed first; keys set here replace them for this run
        only (they are never stored). It runs in the runner's process, so keep it cheap:
        the curriculum's ``cache_numbers`` sets ``cache.numbers_hit_v1`` to true.
        """

    @classmethod
    def main(cls, argv: list[str] | None = None) -> None:
        """Run this scriptlet alone: ``python -m package.module --params '{...}'``.

        Prints the one JSON line and exits with the step's exit code.
        """
        from orchestrator_core.scriptlet.standalone import main

        main(cls, argv)


def discover_scriptlets(package: str) -> list[type]:
    """Every scriptlet class defined in the modules of ``package`` (a dotted name).

    Lets a pack register all of ``mypack.steps`` from one line, so adding a scriptlet
    module is enough to register it:
    ``return discover_scriptlets("mypack.steps")`` in ``orch_register_scriptlets``.
    """
    import importlib
    import pkgutil

    root = importlib.import_module(package)
    found: list[type] = []
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{info.name}")
        found += [
            obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, BaseScriptlet) and obj.__module__ == module.__name__
        ]
    return found
