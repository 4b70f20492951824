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

__all__ = ["BaseScriptlet", "LazyScriptlet", "ScriptletError", "UnimportableModule", "discover_scriptlets",
           "scriptlet_name"]


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


def discover_scriptlets(package: str) -> list[Any]:
    """Every scriptlet class defined in the modules of ``package`` (a dotted name).

    Lets a pack register all of ``mypack.steps`` from one line, so adding a scriptlet
    module is enough to register it:
    ``return discover_scriptlets("mypack.steps")`` in ``orch_register_scriptlets``.
    It imports every module of the package at every start of ``orch``; a pack of many
    scriptlets registers them as :class:`LazyScriptlet` entries instead.

    A module that cannot be imported (a missing dependency, a syntax error) is listed as an
    :class:`UnimportableModule` in its place, so one broken file costs the pack that file's
    scriptlets only, and the registry reports it, naming the file and the pack; code of
    its own that reads the list takes the classes (``isinstance(entry, type)``).
    """
    import importlib
    import pkgutil

    root = importlib.import_module(package)
    found: list[Any] = []
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
        name = f"{package}.{info.name}"
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the other modules of the pack still register
            found.append(UnimportableModule.of(name, exc))
            continue
        found += [
            obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, BaseScriptlet) and obj.__module__ == module.__name__
        ]
    return found


class UnimportableModule:
    """A module of a scriptlet package that :func:`discover_scriptlets` could not import, and why.

    Returned in the module's place rather than raised: the registry reports it (the file,
    the line that failed, the plugin and its distribution) and registers every other
    scriptlet of the pack, where an exception from the hook lost them all.
    """

    __slots__ = ("module", "path", "error")

    def __init__(self, module: str, path: str, error: str):
        self.module = module
        self.path = path  # the file, with the line that failed when it is known (``steps/bad.py:3``)
        self.error = error

    @classmethod
    def of(cls, module: str, exc: BaseException) -> UnimportableModule:
        """The record of ``exc``, raised by importing ``module``."""
        import importlib.util

        try:
            spec = importlib.util.find_spec(module)
            path = spec.origin if spec is not None and spec.origin else module
        except Exception:  # noqa: BLE001 - the dotted name still says which module
            path = module
        line = exc.lineno if isinstance(exc, SyntaxError) and exc.filename == path else None
        trace = exc.__traceback__
        while trace is not None:  # the last line of the module itself that the import ran
            if trace.tb_frame.f_code.co_filename == path:
                line = trace.tb_lineno
            trace = trace.tb_next
        message = " ".join(str(exc).split())
        return cls(module, f"{path}:{line}" if line else path, f"{type(exc).__name__}: {message}".rstrip(": "))

    def __repr__(self) -> str:
        return f"UnimportableModule({self.module!r}, {self.path!r}, {self.error!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UnimportableModule):
            return NotImplemented
        return (self.module, self.path, self.error) == (other.module, other.path, other.error)

    def __hash__(self) -> int:
        return hash((self.module, self.path, self.error))


class LazyScriptlet:
    """A scriptlet registered by its name and where its class is, imported only when needed.

    Returned from ``orch_register_scriptlets`` beside (or instead of) classes:
    ``LazyScriptlet("compute_mean", "mypack.steps.compute_mean:ComputeMean")``. Every
    ``orch`` start builds the registry, and importing every scriptlet module of every
    installed pack costs each run the modules it does not use; a lazy entry is imported
    when a recipe uses it, or when a listing (``orch steps list``) needs the class. The
    class must be a :class:`BaseScriptlet` whose name is ``name``; the registry checks
    both on import and names the plugin when they disagree.
    """

    __slots__ = ("name", "target")

    def __init__(self, name: str, target: str):
        self.name = name
        self.target = target

    def __repr__(self) -> str:
        return f"LazyScriptlet({self.name!r}, {self.target!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LazyScriptlet):
            return NotImplemented
        return (self.name, self.target) == (other.name, other.target)

    def __hash__(self) -> int:
        return hash((self.name, self.target))

    def problem(self) -> str | None:
        """What is wrong with the registration itself (checked without importing), or ``None``."""
        if not isinstance(self.name, str) or not self.name:
            return f"{self!r} has no name"
        module, _, attribute = self.target.partition(":") if isinstance(self.target, str) else ("", "", "")
        if not (module and all(part.isidentifier() for part in module.split(".")) and attribute.isidentifier()):
            return f"{self!r}: the target must be 'package.module:ClassName'"
        return None

    def load(self) -> Any:
        """Import the module and return the attribute the target names; ``ImportError``/``AttributeError``
        (with the target in the message) when either is missing."""
        import importlib

        module, _, attribute = self.target.partition(":")
        found = importlib.import_module(module)
        try:
            return getattr(found, attribute)
        except AttributeError:
            raise AttributeError(f"module {module!r} has no {attribute!r}") from None
