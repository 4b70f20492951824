"""pytest plugin for authors of scriptlet packs: fixtures that build plugin managers, run
recipes in-process and run the real ``orch`` command.

Opt-in, so that it adds nothing to test suites that merely have orch installed: load it in
your pack's ``conftest.py`` with ``pytest_plugins = ["orchestrator_core.testing"]``, or with
``-p orchestrator_core.testing`` (``addopts`` in ``[tool.pytest.ini_options]``). Every
fixture's name starts with ``orch_``:

``orch_pm``
    a fresh plugin manager: the built-ins plus the installed plugins (your pack, once
    ``pip install -e .`` ran). A test marked ``@pytest.mark.orch_builtins_only`` gets the
    built-ins only; override the ``orch_installed_plugins`` fixture (``False``) for a suite.
``orch_register_plugin``
    ``orch_register_plugin(obj_or_module, name=None)``: register a plugin on ``orch_pm`` for
    one test.
``orch_hook_recorder``
    records every hook call made through ``orch_pm`` (name and arguments).
``orch_run_recipe``
    ``orch_run_recipe(recipe_text_or_path, **run_options)``: run a recipe in-process on
    ``orch_pm``, in ``tmp_path``; the outcome has ``.result``, ``.lines``, ``.context``, ``.error``.
``orch_make_pack``
    ``orch_make_pack(name, modules, entry_points=None, version="0.1")``: write a throw-away
    pack (package and distribution metadata with its entry point) to a folder that ``orch``
    subprocesses load via ``PYTHONPATH``.
``orch_cli``
    ``orch_cli(*args, pythonpath=(), env=None, cwd=tmp_path, timeout=120)``: run the real
    ``orch`` command in a subprocess; ``.exit_code``, ``.out``, ``.err``, ``.lines``.

Helpers for session-scoped packs: :func:`write_pack` (what ``orch_make_pack`` does, to a
folder of your choice) and :func:`context_recording_plugin` (a plugin module that registers a
package's scriptlets and writes each run's final context where a test asks).
``orchestrator_core.testing.interpreter.interpreter_modules``: what the bare interpreter imports,
to tell what orch adds.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pytest

from orchestrator_core.plugin.manager import OrchPluginManager, create_plugin_manager


BUILTINS_ONLY_MARK = "orch_builtins_only"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{BUILTINS_ONLY_MARK}: orch_pm loads the built-in plugins only, "
                                       "not the installed ones")


@pytest.fixture
def orch_installed_plugins() -> bool:
    """Whether ``orch_pm`` loads the installed plugins (entry points); override it to change a suite."""
    return True


@pytest.fixture
def orch_pm(request: pytest.FixtureRequest, orch_installed_plugins: bool) -> OrchPluginManager:
    """A plugin manager with the built-ins and, unless the test is marked ``orch_builtins_only``,
    the installed plugins."""
    builtins_only = request.node.get_closest_marker(BUILTINS_ONLY_MARK) is not None
    return create_plugin_manager(load_entrypoints=orch_installed_plugins and not builtins_only)


@pytest.fixture
def orch_register_plugin(orch_pm: OrchPluginManager) -> Iterator[Callable[..., Any]]:
    """``orch_register_plugin(obj, name=None)``: register ``obj`` on ``orch_pm`` for this test."""
    added: list[Any] = []

    def register(plugin: Any, name: str | None = None) -> Any:
        from orchestrator_core.plugin.manager import PluginInfo

        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        orch_pm.register_plugin(plugin, PluginInfo(name, "cli", getattr(plugin, "__module__", name) or name))
        added.append(plugin)
        return plugin

    yield register
    for plugin in added:
        if orch_pm.is_registered(plugin):
            orch_pm.unregister(plugin)


@dataclass
class HookCall:
    name: str
    kwargs: dict[str, Any]


class HookRecorder:
    """Every hook call made through a plugin manager, in order."""

    def __init__(self, pm: OrchPluginManager):
        self.calls: list[HookCall] = []
        self._undo = pm.add_hookcall_monitoring(self._before, lambda *args: None)

    def _before(self, hook_name: str, impls: list, kwargs: dict) -> None:
        self.calls.append(HookCall(hook_name, dict(kwargs)))

    def names(self, prefix: str = "orch_") -> list[str]:
        return [c.name for c in self.calls if c.name.startswith(prefix)]

    def of(self, name: str) -> list[HookCall]:
        return [c for c in self.calls if c.name == name]

    def close(self) -> None:
        self._undo()


@pytest.fixture
def orch_hook_recorder(orch_pm: OrchPluginManager) -> Iterator[HookRecorder]:
    recorder = HookRecorder(orch_pm)
    yield recorder
    recorder.close()


LOADING_NOTE = ("orch_pm loads the built-ins and the installed plugins (not under orch_builtins_only): "
                "install your pack (pip install -e .) or register its plugin module with "
                "orch_register_plugin(module) before running the recipe")


@dataclass
class RecipeOutcome:
    """What an in-process run produced: the result (or the error) and its JSON lines."""

    result: Any
    lines: list[dict[str, Any]]
    error: BaseException | None = None

    @property
    def context(self) -> dict[str, Any]:
        return self.result.context


@pytest.fixture
def orch_run_recipe(orch_pm: OrchPluginManager, tmp_path: Path) -> Callable[..., RecipeOutcome]:
    """``orch_run_recipe(recipe_text_or_path, **run_options)`` on ``orch_pm``, in ``tmp_path``.

    Never raises for a failed step: the outcome's ``error`` holds the exception. A recipe error
    (an unknown scriptlet...) is raised, with a note on how a pack's plugin gets loaded.
    """
    from orchestrator_core.config import Config
    from orchestrator_core.errors import RecipeError, RunInterrupted, StepFailedError
    from orchestrator_core.run.session import Session

    def run(recipe: str | Path, *, config: Mapping[str, Any] | None = None, **options: Any) -> RecipeOutcome:
        path = Path(recipe) if isinstance(recipe, Path) else None
        if path is None:
            path = tmp_path / "recipe.yaml"
            path.write_text(textwrap.dedent(str(recipe)), encoding="utf-8")
        out = io.StringIO()
        settings = {"workdir": tmp_path, "progress": False, "stdout": out, **(config or {})}
        session = Session(Config(**settings), pm=orch_pm)
        try:
            result = session.run(path, **options)
            error = None if result.ok else StepFailedError(result)
        except RunInterrupted as exc:
            result, error = exc.result, exc
        except RecipeError as exc:
            if "unknown scriptlet" in str(exc) and hasattr(exc, "add_note"):
                exc.add_note(LOADING_NOTE)
            raise
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        return RecipeOutcome(result, lines, error)

    return run


def write_pack(root: Path, name: str, modules: Mapping[str, str], entry_points: Mapping[str, str] | None = None,
               version: str = "0.1") -> Path:
    """Write a scriptlet pack to ``root`` (a folder for ``PYTHONPATH``) and return ``root``.

    ``modules`` maps relative file paths (``"demo_pack/__init__.py"``) to source text.
    ``entry_points`` maps entry names to ``module`` (default: ``{name: first package}``).
    The folder holds a ``.dist-info`` so ``importlib.metadata`` finds the entry points
    without installing anything.
    """
    for relative, source in modules.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source), encoding="utf-8")
    package = next(iter(modules)).split("/")[0].removesuffix(".py")
    entries = entry_points or {name: package}
    dist = root / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = "".join(f"{entry} = {target}\n" for entry, target in entries.items())
    (dist / "entry_points.txt").write_text(f"[orchestrator]\n{lines}")
    return root


def context_recording_plugin(package: str) -> str:
    """Source of a pack's plugin module: the scriptlets of ``package.steps``, and the run's final
    context (``_runner.*`` left out) written as JSON to ``$ORCH_TESTPACK_CONTEXT`` when it is set,
    so a test of a real ``orch`` process can read what the run ended with."""
    return f'''
        import json
        import os

        from orchestrator_core import discover_scriptlets, hookimpl


        @hookimpl
        def orch_register_scriptlets():
            return discover_scriptlets("{package}.steps")


        @hookimpl
        def orch_run_finish(run):
            target = os.environ.get("ORCH_TESTPACK_CONTEXT")
            if target:
                context = {{k: v for k, v in run.context.to_dict().items() if not k.startswith("_runner.")}}
                with open(target, "w") as out:
                    json.dump(context, out, sort_keys=True)
        '''


@pytest.fixture
def orch_make_pack(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``orch_make_pack(name, modules, entry_points=None, version="0.1")`` → a folder for
    ``PYTHONPATH`` (see :func:`write_pack`)."""

    def make(name: str, modules: Mapping[str, str], entry_points: Mapping[str, str] | None = None,
             version: str = "0.1") -> Path:
        return write_pack(tmp_path_factory.mktemp(f"pack-{name}"), name, modules, entry_points, version)

    return make


@dataclass
class CliOutcome:
    """A finished ``orch`` subprocess."""

    args: list[str]
    exit_code: int
    out: str
    err: str
    cwd: Path = field(default=Path("."))

    @property
    def lines(self) -> list[dict[str, Any]]:
        """stdout parsed as JSON lines (fails the test when a line is not JSON)."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def assert_success(self) -> CliOutcome:
        assert self.exit_code == 0, f"orch {' '.join(self.args)} exited {self.exit_code}\n{self.err}"
        return self


def orch_executable() -> str:
    """The ``orch`` console script of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / "orch"
    return str(candidate) if candidate.exists() else "orch"


@pytest.fixture
def orch_cli(tmp_path: Path) -> Callable[..., CliOutcome]:
    """``orch_cli(*args, pythonpath=(), env=None, cwd=tmp_path, timeout=120)`` runs the real ``orch``."""

    def run(*args: str, pythonpath: tuple[Path, ...] | list[Path] = (), env: Mapping[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 120) -> CliOutcome:
        environment = dict(os.environ)
        environment.pop("ORCH_LOG_LEVEL", None)
        if pythonpath:
            existing = environment.get("PYTHONPATH")
            environment["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), *([existing] if existing else [])])
        environment.update(env or {})
        where = cwd or tmp_path
        proc = subprocess.run([orch_executable(), *args], cwd=where, env=environment, capture_output=True,
                              text=True, timeout=timeout)
        return CliOutcome(list(args), proc.returncode, proc.stdout, proc.stderr, where)

    return run
