"""Pieces shared by the click commands: the holder of the session, options, JSON output, tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

import click

from orchestrator_core.cli.greedy_args import spread_greedy
from orchestrator_core.cli.holder import SessionHolder  # noqa: F401 - commands and plugins import it from here
from orchestrator_core.config import STATE_DIR_ENV


pass_holder = click.make_pass_decorator(SessionHolder)

state_dir_option = click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), envvar=STATE_DIR_ENV, default=None,
    help="Where the state store and the cache live (default: ./.orch).",
)

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


def resolved_state_dir(state_dir: Path | None) -> Path:
    """``--state-dir`` as a run would use it (``$ORCH_STATE_DIR``, else ``./.orch``)."""
    from orchestrator_core.config import Config

    return Config(state_dir=state_dir).state_dir  # type: ignore[return-value]


def open_store(state_dir: Path | None, *, required: bool = True) -> Any:
    """The store in ``state_dir``, or ``None`` when no run was ever recorded there (an error if ``required``)."""
    from orchestrator_core.state.store import StateStore

    where = resolved_state_dir(state_dir)
    return StateStore.open_recorded(where) if required else StateStore.open_for_reading(where)


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table: on a terminal a rich one that fits the width and wraps long cells; elsewhere one row a line.

    Piped or redirected output stays plain aligned columns, one row per line, so
    ``grep`` and ``awk`` keep working (and thousands of rows print at once);
    ``--json`` is the format meant for programs.
    """
    rows = [["" if v is None else str(v) for v in row] for row in rows]
    if not rows:
        click.echo("(none)")
        return
    if not sys.stdout.isatty():
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        for row in [list(headers), *rows]:
            click.echo("  ".join([c.ljust(w) for c, w in zip(row[:-1], widths)] + [row[-1]]).rstrip())
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    for i, header in enumerate(headers):  # the first column names the row: never cut
        first = max(len(header), *(len(row[0]) for row in rows)) if i == 0 else None
        table.add_column(header, overflow="fold", no_wrap=i == 0, min_width=first)
    for row in rows:
        table.add_row(*row)
    Console(file=sys.stdout, markup=False, highlight=False, emoji=False).print(table)


class OrchGroup(click.Group):
    """The ``orch`` group: its help lists each command with its whole first sentence, wrapped, never cut.

    Commands named in ``lazy_commands`` (name -> ``module:attribute`` under this package) are
    imported when first asked for, so ``orch run`` does not build every other command's module.
    """

    lazy_commands: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in self.lazy_commands:
            import importlib

            module, _, attribute = self.lazy_commands[name].partition(":")
            command = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
            self.add_command(command, name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class GreedyCommand(click.Command):
    """Accepts ``--only a b c`` (the guide's form) besides ``--only a --only b`` and ``--only a,b``.

    Words after a greedy option, up to the next option, belong to it. When no recipe
    was given otherwise, the last such word is taken as the recipe, so
    ``orch run --only a b RECIPE`` works too.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {  # the command's own options (not those plugins add): what tells a value from the recipe
            opt for param in self.params if isinstance(param, click.Option) and not param.is_flag for opt in param.opts
        }
        return super().parse_args(ctx, spread_greedy(args, takes_value))
