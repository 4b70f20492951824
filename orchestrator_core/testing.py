"""pytest plugin for orch and for authors of scriptlet packs.

Loaded automatically through the ``pytest11`` entry point once orch is installed.
Fixtures:

``orch_pm``
    a fresh plugin manager with the built-ins only (installed plugins are not loaded).
``register_plugin``
    register an object or module on ``orch_pm`` for one test.
``hook_recorder``
    records every hook call made through ``orch_pm`` (name and arguments).
``run_orch_recipe``
    run a recipe in-process on ``orch_pm`` and get the result and the JSON lines.
``make_pack``
    write a scriptlet pack (package + distribution metadata with its entry point) to a
    temporary folder that ``orch`` subprocesses can load via ``PYTHONPATH``.
``orch_cli``
    run the real ``orch`` command in a subprocess, in a temporary working directory.
``orch_server``
    start a real ``orch serve`` subprocess on a free port; stopped when the test ends.
``procs``
    :class:`Processes`: is a pid alive, which processes carry a marker, wait for a condition.
``marked_env``
    ``(marker, env)``: an environment whose every descendant process carries ``marker``
    (``procs.marked(marker)`` finds them); any still alive are killed when the test ends.

Helpers for session-scoped packs: :func:`write_pack` (what ``make_pack`` does, to a folder
of your choice) and :func:`context_recording_plugin` (a plugin module that registers a
package's scriptlets and writes each run's final context where a test asks).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pytest

from .pluginmanager import OrchPluginManager, create_plugin_manager


@pytest.fixture
def orch_pm() -> OrchPluginManager:
    """A plugin manager with the built-in plugins only."""
    return create_plugin_manager(load_entrypoints=False)


@pytest.fixture
def register_plugin(orch_pm: OrchPluginManager) -> Iterator[Callable[..., Any]]:
    """``register_plugin(obj, name=None)``: register ``obj`` on ``orch_pm`` for this test."""
    added: list[Any] = []

    def register(plugin: Any, name: str | None = None) -> Any:
        from .pluginmanager import PluginInfo

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
def hook_recorder(orch_pm: OrchPluginManager) -> Iterator[HookRecorder]:
    recorder = HookRecorder(orch_pm)
    yield recorder
    recorder.close()


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
def run_orch_recipe(orch_pm: OrchPluginManager, tmp_path: Path) -> Callable[..., RecipeOutcome]:
    """``run_orch_recipe(recipe_text_or_path, **run_options)`` on ``orch_pm``, in ``tmp_path``.

    Never raises for a failed step: the outcome's ``error`` holds the exception.
    """
    from .config import Config
    from .errors import RunInterrupted, StepFailedError
    from .session import Session

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
def make_pack(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``make_pack(name, modules, entry_points=None, version="0.1")`` → a folder for ``PYTHONPATH``
    (see :func:`write_pack`)."""

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


@dataclass
class ServedStore:
    """A running ``orch serve`` subprocess: its base ``url`` (ending in ``/``) and process."""

    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> int:
        """Stop it as Ctrl-C would; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(__import__("signal").SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def wait_for_url(log: Path, process: subprocess.Popen, timeout: float = 30) -> str:
    """The first ``http://`` URL written to ``log`` by ``process`` (which prints it on stderr)."""
    import re
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        found = re.search(r"http://\S+/", text)
        if found:
            return found.group(0)
        if process.poll() is not None:
            raise AssertionError(f"the process exited {process.returncode} before printing its URL:\n{text}")
        time.sleep(0.02)
    raise AssertionError(f"no URL printed within {timeout} s:\n{log.read_text() if log.exists() else ''}")


@pytest.fixture
def orch_server(tmp_path: Path) -> Iterator[Callable[..., ServedStore]]:
    """``orch_server(*args, cwd=tmp_path, env=None)``: ``orch serve --port 0 *args``, running; stopped at teardown."""
    started: list[ServedStore] = []

    def start(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> ServedStore:
        log = tmp_path / f"orch-serve-{len(started)}.log"
        environment = {**os.environ, **(env or {})}
        with open(log, "w", encoding="utf-8") as err:
            process = subprocess.Popen([orch_executable(), "serve", "--port", "0", *args], cwd=cwd or tmp_path,
                                       env=environment, stdout=subprocess.DEVNULL, stderr=err)
        served = ServedStore("", process, log)
        started.append(served)
        served.url = wait_for_url(log, process)
        return served

    yield start
    for served in started:
        served.stop()


class Processes:
    """Looking at processes through ``/proc``: so tests can prove nothing was left running."""

    @staticmethod
    def alive(pid: int) -> bool:
        """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as gone)."""
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return False
        return fields[0] not in ("Z", "X")

    @staticmethod
    def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            time.sleep(0.02)
        return condition()

    @classmethod
    def marked(cls, marker: str) -> list[int]:
        """Pids of live processes whose environment holds ``ORCH_TEST_MARK=marker``."""
        found = []
        needle = f"ORCH_TEST_MARK={marker}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if needle in environ.split(b"\0") and cls.alive(int(entry.name)):
                found.append(int(entry.name))
        return found

    @classmethod
    def kill_marked(cls, marker: str) -> None:
        for pid in cls.marked(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    @classmethod
    def pids(cls, path: Path, count: int = 1, timeout: float = 10.0) -> list[int]:
        """The pids a process wrote to ``path`` (one per line), once it has written ``count``."""
        def ready() -> bool:
            return path.exists() and len(path.read_text().split()) >= count

        assert cls.wait_until(ready, timeout), f"{path} was not written"
        return [int(p) for p in path.read_text().split()]


@pytest.fixture
def procs() -> type[Processes]:
    return Processes


@pytest.fixture
def marked_env() -> Iterator[tuple[str, dict[str, str]]]:
    """An environment whose every descendant process can be found again; all are killed at teardown."""
    marker = f"orch-test-{os.getpid()}-{time.monotonic_ns()}"
    env = dict(os.environ, ORCH_TEST_MARK=marker)
    env.pop("ORCH_LOG_LEVEL", None)
    yield marker, env
    Processes.kill_marked(marker)
