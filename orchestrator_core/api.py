"""``run_recipe``: running a recipe from Python (guide §19)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, TextIO

from orchestrator_core.config import Config, default_workers
from orchestrator_core.errors import StepFailedError
from orchestrator_core.model import Recipe, RunResult
from orchestrator_core.run.session import Session


def run_recipe(
    recipe: str | Path | Recipe,
    *,
    context: Mapping[str, Any] | None = None,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    resume_from: str | None = None,
    workers: int | None = None,
    executor: str | None = None,
    keep_going: bool = False,
    workdir: str | Path | None = None,
    data_dir: str | Path | None = None,
    events: str | Path | None = None,
    stdout: TextIO | None = None,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
    plugins: Iterable[Any] = (),
    load_entrypoints: bool = True,
    session: Session | None = None,
) -> RunResult:
    """Run ``recipe`` (a path, an installed recipe's name, or a ``Recipe``) and return its result.

    Each step's JSON line is written to ``stdout`` (default: ``sys.stdout``).
    Raises :class:`StepFailedError` (a ``RuntimeError``) when a step failed, with the
    run's result on ``.result``; :class:`RecipeError` or :class:`UsageError` when the
    recipe or the arguments are wrong (nothing ran); :class:`RunInterrupted` on Ctrl-C.

    :param plugins: extra plugin objects to register for this run (tests, notebooks).
    :param session: reuse a session (its plugins and configuration); the other
        configuration arguments are then ignored.
    """
    if session is None:
        config = Config(
            workdir=Path(workdir) if workdir else Path.cwd(),
            data_dir=Path(data_dir) if data_dir else None,
            workers=workers or default_workers(),
            executor=executor,
            keep_going=keep_going,
            events_path=Path(events) if events else None,
            progress=progress,
            stdout=stdout,
            options=dict(options or {}),
        )
        session = Session(config, plugins=plugins, load_entrypoints=load_entrypoints)
    result = session.run(recipe, context=context, only=only, skip=skip, resume_from=resume_from)
    if not result.ok:
        raise StepFailedError(result)
    return result
