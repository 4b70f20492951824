"""The settings of one invocation of ``orch`` (or one ``run_recipe`` call)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TextIO

from orchestrator_core.records import Record

DATA_DIR_ENV = "ORCH_DATA_DIR"
STATE_DIR_ENV = "ORCH_STATE_DIR"


def default_workers() -> int:
    """Steps in flight at once: ``min(32, CPUs + 4)``, Python's default for I/O thread pools.

    Thread steps are I/O-bound by design (CPU-bound ones declare ``requires_process``), so the
    CPU count would leave a two-core machine waiting on two sleeps at a time; executors of
    processes size their pools by the CPU count themselves.
    """
    return min(32, (os.cpu_count() or 1) + 4)


# Wiring of the invocation rather than options: the session points ``stdout`` at the
# real standard output for a run and hands plugins the manager; both stay settable.
_WIRING = frozenset({"stdout", "pluginmanager", "_frozen"})


class ReadOnlyOptions(dict):
    """``config.options`` once the plugins are configured: reading works, changing raises."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("config.options is read-only once the plugins are configured (orch_configure ran): "
                        "pass the option when the Config is built")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        return (ReadOnlyOptions, (dict(self),))

    def __copy__(self) -> ReadOnlyOptions:
        return self

    def __deepcopy__(self, memo: dict) -> ReadOnlyOptions:
        return self


class Config(Record):
    """Options every part of a run may read; plugins keep their own under ``options``.

    ``stdout`` is where the one-JSON-line-per-step contract is written; the command
    line points it at the real standard output and routes everything else to stderr.
    ``state_dir`` holds the state store (``state.db``) and the local cache
    (``cache/``): ``.orch`` under the working directory unless ``$ORCH_STATE_DIR`` or
    ``--state-dir`` moves it. ``cache`` off means a run neither reads nor writes the cache.

    Built from the command's options, then shown to the plugins (``orch_configure``),
    then read-only (:meth:`freeze`): every plugin sees, in ``orch_configure`` and
    later, the settings the run really uses.
    """

    # Compared and shown, as a dataclass's fields; a Config keeps a ``__dict__`` (plugins may add to it until frozen).
    _fields = ("workdir", "data_dir", "state_dir", "cache", "workers", "executor", "keep_going", "events_path",
               "progress", "stdout", "options", "pluginmanager")

    def __init__(self, workdir: Path | str | None = None, data_dir: Path | None = None, state_dir: Path | None = None,
                 cache: bool = True, workers: int | None = None, executor: str | None = None,
                 keep_going: bool = False, events_path: Path | None = None, progress: bool | None = None,
                 stdout: TextIO | None = None, options: dict[str, Any] | None = None, pluginmanager: Any = None):
        self._frozen = False
        self.workdir = Path.cwd() if workdir is None else workdir
        self.data_dir = data_dir
        self.state_dir = state_dir
        self.cache = cache
        self.workers = default_workers() if workers is None else workers
        self.executor = executor
        self.keep_going = keep_going
        self.events_path = events_path
        self.progress = progress
        self.stdout = stdout
        self.options = {} if options is None else options
        self.pluginmanager = pluginmanager
        self._resolve()

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _WIRING and getattr(self, "_frozen", False):
            raise AttributeError(f"config.{name} is read-only once the plugins are configured (orch_configure "
                                 "ran): pass it when the Config is built")
        object.__setattr__(self, name, value)

    def freeze(self) -> None:
        """Make the settings read-only (the session does it right after ``orch_configure``)."""
        self.options = ReadOnlyOptions(self.options)
        self._frozen = True

    @property
    def frozen(self) -> bool:
        return self._frozen

    def _resolve(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        if self.data_dir is None:
            self.data_dir = Path(os.environ.get(DATA_DIR_ENV) or self.workdir / "Data")
        self.data_dir = (self.workdir / self.data_dir).resolve()
        if self.state_dir is None:
            self.state_dir = Path(os.environ.get(STATE_DIR_ENV) or self.workdir / ".orch")
        self.state_dir = (self.workdir / self.state_dir).resolve()
        if self.workers < 1:
            raise ValueError("workers must be at least 1")

    @property
    def output(self) -> TextIO:
        return self.stdout if self.stdout is not None else sys.stdout
