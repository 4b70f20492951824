"""The Python scriptlet contract (DESIGN §6, guide §5).

A scriptlet is a class with a ``name``, the ``outputs`` it may write, and two
methods: ``validate`` (check params and context, raise :class:`ScriptletError`)
and ``run`` (do the work, ``ctx.set`` the results). The framework prints the
step's JSON line. A scriptlet written as in the guide (no ``outputs``, prints its
own status line, returns 0 or 1) runs too: its line is adopted into the
framework's (see :mod:`orchestrator_core.adopted_line`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from .errors import ScriptletError
from .scriptlet_handler import scriptlet_name

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
    """

    name: ClassVar[str] = ""
    outputs: ClassVar[tuple[str, ...] | None] = None
    accumulates: ClassVar[tuple[str, ...]] = ()
    inputs: ClassVar[tuple[str, ...] | None] = None
    parallelizable: ClassVar[bool] = False
    requires_process: ClassVar[bool] = False
    params_schema: ClassVar[dict[str, Any] | None] = None

    def validate(self, ctx: Any, params: dict[str, Any]) -> None:
        """Check ``params`` and the context before any work; raise ``ScriptletError``."""

    def run(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any] | None:
        """Do the work and ``ctx.set`` the outputs; return extra JSON-line fields or ``None``."""
        raise NotImplementedError(f"{type(self).__name__}.run is not implemented")

    @classmethod
    def main(cls, argv: list[str] | None = None) -> None:
        """Run this scriptlet alone: ``python -m package.module --params '{...}'``.

        Prints the one JSON line and exits with the step's exit code.
        """
        from .standalone import main

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
