"""The orch plugin of orchestrator-reporting: ``orch report``, ``orch graph`` and the ``orch_report`` hook.

Registered through the entry point ``reporting = "orchestrator_reporting.plugin"``.
This module is imported on every ``orch`` start, so it imports nothing heavy: the
commands are loaded when the command line is built, the report machinery (Jinja2,
openpyxl) when a report is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator_core import hookimpl

if TYPE_CHECKING:
    import click

    from orchestrator_core.run.state import Run


@hookimpl
def orch_add_commands(cli: click.Group) -> None:
    from .cli import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


@hookimpl
def orch_report(run: Run, out_dir: Path) -> list[str]:
    """Write the report of ``run`` into ``out_dir``: ``report.md`` unless asked otherwise.

    ``orch report`` passes its options in ``run.config.options["reporting"]``:
    ``formats`` (``md``, ``html``, ``xlsx``) and ``template`` (a user's template).
    ``run.notes`` (a run read back from the store) are remarks for the reader, such
    as a recipe file that changed since the run.
    """
    from .report import build_report
    from .writer import write_report

    options: dict[str, Any] = run.config.options.get("reporting") or {}
    report = build_report(run, notes=[*getattr(run, "notes", []), *(options.get("notes") or [])])
    written = write_report(report, out_dir, options.get("formats") or ("md",), template=options.get("template"))
    return [str(path) for path in written]
