"""``orch doctor``: check the state store and, with ``--repair``, recover what is readable of a damaged one."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator_core.cli.common import json_option, print_json, resolved_state_dir, state_dir_option


@click.command()
@click.option("--repair", is_flag=True,
              help="Move a damaged store aside (state.db.damaged-TIME) and build a new one from its readable rows.")
@state_dir_option
@json_option
def doctor(repair: bool, state_dir: Path | None, as_json: bool) -> None:
    """Check the state store: is it a sound SQLite database, of a known schema, with valid JSON in every row
    and values of the right kind in every column.

    Nothing is changed without --repair. Exit status: 0 the store is sound (or was
    repaired), 1 it has problems, 2 the repair could not be done.
    """
    from orchestrator_core.state import doctor as checks

    directory = resolved_state_dir(state_dir)
    found = checks.check(directory)
    document = found.to_dict()
    recovery = None
    if repair and found.newer:
        from orchestrator_core.errors import UsageError

        raise UsageError(f"{found.path} was written by a newer orch: upgrade orch rather than repair it")
    if repair and found.exists and not found.healthy:
        recovery = checks.repair(directory)
        document["repair"] = recovery.to_dict()
        document["after_repair"] = checks.check(directory).to_dict()
    if as_json:
        print_json(document)
    else:
        _describe(found, recovery, repair)
    healthy = found.healthy or (recovery is not None and document["after_repair"]["healthy"])
    raise click.exceptions.Exit(0 if healthy else 1)


def _describe(found, recovery, repair: bool) -> None:
    if not found.exists:
        click.echo(f"no state store at {found.path}: nothing recorded there yet, nothing to check")
        return
    for note in found.notes:
        click.echo(f"note: {note}")
    if found.healthy:
        counts = ", ".join(f"{n} {table}" for table, n in found.rows.items())
        click.echo(f"ok: {found.path} is sound ({counts})")
        return
    for problem in found.problems:
        click.echo(f"problem: {found.path}: {problem}")
    if recovery is None:
        if not repair and not found.newer:
            click.echo("run `orch doctor --repair` to move it aside and build a new store from what is readable")
        return
    click.echo(f"moved the damaged store to {recovery.moved_to}")
    kept = ", ".join(f"{n} {table}" for table, n in recovery.kept.items()) or "nothing"
    click.echo(f"new store {found.path} holds what could be read: {kept}")
    for table, n in recovery.invalid.items():
        what = "kept without their flags" if table == "runs" else "left out"
        click.echo(f"{what}: {n} row(s) of {table} with invalid JSON")
    for name, n in recovery.replaced.items():
        click.echo(f"replaced ({_replacement(name)}): {n} row(s) of {name} holding a value of the wrong kind")
    for name, n in recovery.dropped.items():
        click.echo(f"left out: {n} row(s) whose {name} held a value of the wrong kind")
    for table, n in recovery.orphans.items():
        click.echo(f"left out: {n} row(s) of {table} whose run is not kept")
    if recovery.unreadable:
        click.echo(f"rows of {', '.join(recovery.unreadable)} on damaged pages could not be read and are lost")


def _replacement(name: str) -> str:
    from orchestrator_core.state.columns import rule_of

    value = rule_of(*name.split(".")).repair
    return "NULL" if value is None else value


COMMANDS = (doctor,)
