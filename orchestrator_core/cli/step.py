"""``orch step run NAME``: one scriptlet on its own, one JSON line."""

from __future__ import annotations

import json
import sys

import click

from orchestrator_core.cli.common import SessionHolder, pass_holder


@click.group("step")
def step_group() -> None:
    """Work with one scriptlet outside a recipe."""


@step_group.command("run")
@click.argument("name")
@click.option("--params", default="{}", metavar="JSON", help="The step's params as a JSON object.")
@click.option("--context", "context_json", default="{}", metavar="JSON", help="Initial context as a JSON object.")
@click.option("--data-dir", default="Data", envvar="ORCH_DATA_DIR", help="Where artifacts go (default: ./Data).")
@pass_holder
def step_run(holder: SessionHolder, name: str, params: str, context_json: str, data_dir: str) -> None:
    """Run scriptlet NAME once and print its JSON line; the keys it wrote go to stderr.

    Exit status: 0 ok, the step's exit code on failure, 2 for a bad command.
    """
    from orchestrator_core.scriptlet.standalone import parse_json_object, print_line, run_scriptlet

    try:
        params_obj = parse_json_object(params, "--params")
        context = parse_json_object(context_json, "--context")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    cls = holder.session().registry.get("scriptlet", name).obj
    result = run_scriptlet(cls, params_obj, context, data_dir=data_dir)
    for write in result.delta:
        click.echo(f"{write.key} = {json.dumps(write.value)[:500]}", err=True)
    raise click.exceptions.Exit(print_line(result, sys.stdout))
