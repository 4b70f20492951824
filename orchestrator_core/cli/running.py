"""``orch run`` and ``orch validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import click

from orchestrator_core.errors import RecipeError, folded
from orchestrator_core.recipe.values import MAX_WORKERS
from orchestrator_core.cli.common import GreedyCommand, SessionHolder, json_option, pass_holder, print_json, state_dir_option
from orchestrator_core.cli.run_request import RunRequest, declared_run_options, run_config, start_run


class RunCommand(GreedyCommand):
    """``orch run`` plus the options plugins declare: executors' ``options`` (``--process-workers``...)
    and any plugin's ``run_options`` attribute (the ``server`` plugin's ``--serve``, ``--port``)."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        holder = ctx.find_object(SessionHolder)
        if holder is None:
            return params
        seen = {opt for p in params for opt in getattr(p, "opts", [])}
        for option, owner in declared_run_options(holder, seen):
            params.insert(-1, click.Option(
                [option.flag, option.dest], type=None if option.is_flag else option.type, default=option.default,
                is_flag=option.is_flag, envvar=option.env, help=f"{option.help} [{owner}]",
                show_envvar=bool(option.env),
            ))
        return params


@click.command(cls=RunCommand)
@click.argument("recipe_arg", metavar="RECIPE", required=False)
@click.option("--recipe", "recipe_opt", metavar="PATH", help="The recipe (same as the RECIPE argument).")
@click.option("--only", multiple=True, metavar="STEP...",
              help="Run only these steps, on the recorded context: --only a b, --only a,b or repeated.")
@click.option("--skip", multiple=True, metavar="STEP...", help="Do not run these steps (their dependents still run).")
@click.option("--resume-from", metavar="STEP",
              help="Run STEP and every step after it, on the context of the recipe's latest recorded run "
                   "(an empty one, with a warning, when there is none).")
@click.option("--workers", type=click.IntRange(min=1, max=MAX_WORKERS), default=None,
              help="Parallelizable steps running at once (default: min(32, CPU count + 4)).")
@click.option("--executor", metavar="NAME", help="Default executor of the run: inline, thread, process, dask...")
@click.option("--keep-going", is_flag=True, help="After a failure, still run every step that does not depend on it.")
@click.option("--events", "events", type=click.Path(dir_okay=False, path_type=Path),
              help="Append every event of the run to FILE as JSON lines (schema orch.event/1). When FILE "
                   "cannot be written (a full disk) the steps go on, but the run ends as error, exit 1.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="ORCH_DATA_DIR",
              help="Where steps write artifacts (default: ./Data).")
@click.option("--set", "assignments", multiple=True, metavar="KEY=JSON",
              help="Set an initial context key (value parsed as JSON, else taken as a string).")
@click.option("--progress/--no-progress", default=None, help="Progress on stderr (default: on; a live bar on a terminal).")
@state_dir_option
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache: every step runs.")
@click.option("--dry-run", is_flag=True,
              help="Run nothing; say for each step whether it would run or be a cache hit, and why.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: print one JSON document.")
@pass_holder
def run(holder: SessionHolder, **params: Any) -> None:
    """Run RECIPE (a path, or the name of a recipe an installed pack ships: PACK:NAME where
    two packs ship NAME, or a file NAME.yaml is in the working directory too).

    stdout carries exactly one JSON line per step; progress and logs go to stderr.
    Every run is recorded in the state store (.orch/state.db), so --resume-from and
    --only start from the context of the recipe's latest recorded run.
    Exit status: 0 all steps ok, 1 a step failed or an output could not be written
    (stdout, --events FILE), 2 the command or recipe is wrong (nothing ran), 130 interrupted.
    """
    request = run_request(params)
    if params["dry_run"]:
        from orchestrator_core.cli.history import print_explanation

        session = holder.session(request.config)
        print_explanation(session.explain(request.recipe, context=request.context, only=request.only,
                                          skip=request.skip, resume_from=request.resume_from), params["as_json"])
        return
    if params["events"] is not None:
        _check_events_file(request.config.workdir / params["events"])
    raise click.exceptions.Exit(start_run(holder, request))


def run_request(params: Mapping[str, Any]) -> RunRequest:
    """The run the options of the ``run`` command ask for (``params``: their values by name, as click passes them)."""
    own = {param.name for param in run.params}
    recipe = _one_recipe(params["recipe_arg"], params["recipe_opt"])
    context = dict(_assignment(a) for a in params["assignments"])
    config = run_config(
        workers=params["workers"], executor=params["executor"], keep_going=params["keep_going"],
        events=params["events"], data_dir=params["data_dir"], progress=params["progress"],
        state_dir=params["state_dir"], no_cache=params["no_cache"],
        plugin_options={name: value for name, value in params.items() if name not in own},
    )
    return RunRequest(recipe, config, context=context,
                      only=params["only"], skip=params["skip"], resume_from=params["resume_from"])


def _check_events_file(path: Path) -> None:
    """Fail before the run starts when ``--events`` cannot be opened for appending."""
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise click.BadParameter(f"cannot write {str(path)!r}: {exc.strerror}", param_hint="--events") from None


def _one_recipe(argument: str | None, option: str | None) -> str:
    if argument and option and argument != option:
        raise click.UsageError(f"two recipes given: {argument!r} and --recipe {option!r}")
    recipe = argument or option
    if not recipe:
        raise click.UsageError("which recipe? give a name or path (see `orch recipes list`)")
    return recipe


def _assignment(text: str) -> tuple[str, Any]:
    import json

    from orchestrator_core.run.context import RESERVED_PREFIX
    from orchestrator_core.recipe.values import json_problems

    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"expected KEY=VALUE, got {text!r}", param_hint="--set")
    if key.startswith(RESERVED_PREFIX):
        raise click.BadParameter(f"{key!r} is reserved: '{RESERVED_PREFIX}*' keys belong to the runner",
                                 param_hint="--set")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return key, raw
    except ValueError:  # an integer longer than Python reads from text
        raise click.BadParameter(f"{key}: the number has too many digits to be JSON data", param_hint="--set") from None
    for _, why in json_problems(value):
        raise click.BadParameter(f"{key}: {why}", param_hint="--set")
    return key, value


@click.command()
@click.argument("recipes", nargs=-1, required=True, metavar="RECIPE...")
@json_option
@pass_holder
def validate(holder: SessionHolder, recipes: tuple[str, ...], as_json: bool) -> None:
    """Check recipes without running anything: schema, scriptlets, dependencies, cycles.

    Every problem is reported as FILE:LINE: message. Exit status 2 when any recipe has one.
    Output keys without a _vN version suffix are warned about (exit status unchanged).
    """
    from orchestrator_core.recipe.prepare import versioning_warnings

    session = holder.session()
    report = []
    problem_lines: dict[str, list[str]] = {}  # by recipe, a repeated problem written once (``folded``)
    for reference in recipes:
        try:
            recipe = session.load(reference)
            warnings = versioning_warnings(session.validate(recipe), recipe.path)
        except RecipeError as exc:
            report.append({"recipe": reference, "ok": False, "problems": _located(exc.problems), "warnings": []})
            problem_lines[reference] = folded(exc.problems)
            continue
        report.append({"recipe": reference, "ok": True, "path": recipe.path, "steps": len(recipe.steps),
                       "problems": [], "warnings": _located(warnings)})
    if as_json:
        print_json(report)
    else:
        for entry in report:
            if entry["ok"]:
                click.echo(f"ok: {entry['path']} ({entry['steps']} steps)")
            for line in problem_lines.get(entry["recipe"], ()):
                click.echo(line, err=True)
            for w in entry["warnings"]:
                click.echo(f"{_where(w)}: warning: {w['message']}", err=True)
    raise click.exceptions.Exit(0 if all(e["ok"] for e in report) else 2)


def _located(problems) -> list[dict]:
    return [{"file": p.file, "line": p.line, "message": p.message} for p in problems]


def _where(problem: dict) -> str:
    return f"{problem['file']}:{problem['line']}" if problem["line"] else problem["file"]


COMMANDS = (run, validate)
