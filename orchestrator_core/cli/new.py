"""``orch new pack`` and ``orch new scriptlet``: from nothing to a tested pack in minutes."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("new")
def new_group() -> None:
    """Create a scriptlet pack, or add a scriptlet to one."""


@new_group.command("pack")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to create the pack's folder.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def new_pack_command(name: str, directory: Path, force: bool) -> None:
    """Create pack NAME: a distribution with an example scriptlet, a recipe and tests.

    \b
    Then:
      pip install -e 'orchestrator-NAME[test]'
      orch run NAME_hello
      cd orchestrator-NAME && python -m pytest
    """
    from orchestrator_core.scaffold import PackNames, new_pack

    written = new_pack(name, directory, force=force)
    root = directory / PackNames(name.lower().replace("-", "_")).dist
    for path in written:
        click.echo(f"created {path}")
    click.echo(f"\nnext: pip install -e '{root}[test]' && orch steps list", err=True)


@new_group.command("scriptlet")
@click.argument("name")
@click.option("--pack", "pack_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The pack's folder (or a folder inside it).")
@click.option("--force", is_flag=True, help="Overwrite the scriptlet's module and test if they exist.")
def new_scriptlet_command(name: str, pack_dir: Path, force: bool) -> None:
    """Add scriptlet NAME to a pack: its module, a unit test and a step in the pack's recipe."""
    from orchestrator_core.scaffold import new_scriptlet

    for path in new_scriptlet(name, pack_dir.resolve(), force=force):
        click.echo(f"wrote {path}")


COMMANDS = (new_group,)
