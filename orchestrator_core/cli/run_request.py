"""What ``orch run`` does once its command line is read, whichever reader read it.

Two readers turn a command line into a :class:`RunRequest`: click's ``run`` command
(:mod:`orchestrator_core.cli.running`) and the plain path (:mod:`orchestrator_core.cli.plain_run`).
From there on one body runs for both: the ``Config``, the real stdout kept for the JSON
lines, the session, the signal handlers and the exit status. Click-free.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping

from orchestrator_core.cli.holder import SessionHolder
from orchestrator_core.config import Config, default_workers
from orchestrator_core.records import Record


class RunRequest(Record):
    """A run as the command line asks for it: the recipe, its ``Config`` and what to run of it."""

    __slots__ = ("recipe", "config", "context", "only", "skip", "resume_from")

    def __init__(self, recipe: str, config: Config, context: Mapping[str, Any] | None = None,
                 only: tuple[str, ...] = (), skip: tuple[str, ...] = (), resume_from: str | None = None):
        self.recipe = recipe
        self.config = config
        self.context = dict(context or {})
        self.only = only
        self.skip = skip
        self.resume_from = resume_from


def run_config(*, workers: int | None, executor: str | None, keep_going: bool, events: Path | None,
               data_dir: Path | None, progress: bool | None, state_dir: Path | None, no_cache: bool,
               plugin_options: Mapping[str, Any]) -> Config:
    """The ``Config`` of ``orch run`` with these options (a plugin's option left out when it has no value)."""
    return Config(
        workers=workers or default_workers(), executor=executor, keep_going=keep_going, events_path=events,
        progress=progress, data_dir=data_dir, state_dir=state_dir, cache=not no_cache,
        options={k: v for k, v in plugin_options.items() if v is not None},
    )


def declared_run_options(holder: SessionHolder, taken: set[str]) -> list[tuple[Any, str]]:
    """``(option, owner)`` for each option of ``orch run`` a plugin declares, its flag not in ``taken``.

    Executors' ``options`` (``--process-workers``) first, then any plugin's ``run_options``
    (``--serve``); a flag already taken (by the command or an earlier plugin) is skipped.
    """
    declared = [(option, f"{entry.name} executor") for entry in holder.registry().entries("executor")
                for option in entry.obj.options]
    declared += [(option, f"{name} plugin") for name, plugin in sorted(holder.pm.list_name_plugin())
                 for option in getattr(plugin, "run_options", ())]
    seen = set(taken)
    kept = []
    for option, owner in declared:
        if option.flag not in seen:
            seen.add(option.flag)
            kept.append((option, owner))
    return kept


def start_run(holder: SessionHolder, request: RunRequest) -> int:
    """Run the request: 0 when every step is ok, 1 when one failed; Ctrl-C ends it as ``interrupted``.

    A run not ok for a reason no step gives (an ``--events`` file that could not be
    written) ends with that reason, as the one line an error that stops a run gets.
    """
    from orchestrator_core.cli.exit_status import say
    from orchestrator_core.run.interrupts import Interrupts
    from orchestrator_core.run.step_exit import guard_process

    config = request.config
    config.stdout = redirect_stdout_to_stderr()
    session = holder.session(config)
    interrupts = Interrupts().install()
    guard_process()  # os._exit in a step fails the step, until orch exits (a step abandoned at its timeout too)
    try:
        result = session.run(request.recipe, context=request.context, only=request.only, skip=request.skip,
                             resume_from=request.resume_from)
    finally:
        interrupts.finish()
    if not result.ok and result.reason:
        say(f"error: {result.reason}")
    return 0 if result.ok else 1


def redirect_stdout_to_stderr() -> Any:
    """Keep the real stdout for the JSON lines; send fd 1 (prints, child processes) to stderr."""
    from orchestrator_core.display.streams import guard, unchecked

    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    # Progress and logs outlive their reader; fd 1 is stderr from here on, so its failures are not stdout's.
    sys.stdout, sys.stderr = guard(unchecked(sys.stdout)), guard(sys.stderr)
    return os.fdopen(saved, "w", buffering=1, encoding="utf-8")
