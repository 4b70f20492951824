"""``orch report`` and ``orch graph``, added to the command line by the plugin.

This module is imported whenever ``orch`` builds its command line, so it imports
only click and the core's command helpers; the report modules, Jinja2 and
openpyxl are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from orchestrator_core.cli.common import (
    SessionHolder, json_option, pass_holder, print_json, print_table, state_dir_option,
)

REPORT_FORMATS = ("md", "html", "xlsx")
GRAPH_FORMATS = ("mermaid", "dot", "svg", "text")
OPTIONS_KEY = "reporting"  # where `orch report` leaves its options for the orch_report hook


def _session(holder: SessionHolder, state_dir: Path | None, options: dict[str, Any] | None = None) -> Any:
    """The session, configured with ``--state-dir`` and the report's options before plugins see it."""
    from orchestrator_core import Config

    return holder.session(Config(state_dir=state_dir, options=options or {}))


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@click.command()
@click.argument("run_ref", metavar="[RUN]", default="latest")
@click.option("--format", "formats", type=click.Choice(REPORT_FORMATS), multiple=True,
              help="md (default), html (one self-contained file) or xlsx (metrics_summary.xlsx); repeatable.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write into (default: Data/reports/RUN_ID).")
@click.option("--template", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A Jinja2 template of your own for the md or html report.")
@click.option("--compare", nargs=2, metavar="RUN_A RUN_B", default=None,
              help="Print the metrics of two runs side by side, with the change, instead of a report.")
@state_dir_option
@json_option
@pass_holder
def report(holder: SessionHolder, run_ref: str, formats: tuple[str, ...], out_dir: Path | None,
           template: Path | None, compare: tuple[str, str] | None, state_dir: Path | None, as_json: bool) -> None:
    """Write a report of a recorded run (default: the latest) and print the files written.

    \b
    The report holds the recipe and status, a table of steps (status, duration, CPU,
    peak memory, cache), the DAG as a Mermaid diagram (drawn inline in HTML), the
    errors with their details, the metrics and the context keys with who wrote them.
    RUN is a run id, a unique prefix of one, or 'latest' (see `orch runs list`).
    """
    from orchestrator_core import UsageError
    from orchestrator_core.plugin.hooks import Hooks
    from orchestrator_core.run.recorded import open_store, read_run

    if compare:
        if run_ref != "latest" or formats or out_dir or template:
            raise UsageError("--compare A B prints a comparison; it takes no RUN, --format, --out or --template")
        _print_comparison(open_store(_session(holder, state_dir).config.state_dir), *compare, as_json=as_json)
        return
    if template is not None and len(set(formats or ("md",)) - {"xlsx"}) != 1:
        raise UsageError("--template renders one format: use it with --format md or --format html")
    session = _session(holder, state_dir, {OPTIONS_KEY: {"formats": list(dict.fromkeys(formats or ("md",))),
                                                         "template": template}})
    config = session.config
    run = read_run(session, run_ref)
    out = (config.workdir / out_dir).resolve() if out_dir else config.data_dir / "reports" / run.id
    paths = Hooks(session.pm).report(run=run, out_dir=out)
    if as_json:
        from .outcome import step_statuses

        print_json({"run": run.id, "recipe": run.recipe.name, "status": run.status, "files": paths,
                    "steps": step_statuses(run)})
        return
    click.echo(f"report of run {run.id} ({run.recipe.name}, {run.status})", err=True)
    for path in paths:
        click.echo(_shown(Path(path)))


def _print_comparison(store: Any, ref_a: str, ref_b: str, *, as_json: bool) -> None:
    from .compare import change_text, compare_metrics, value_text
    from orchestrator_core.run.recorded import find_run

    try:
        a, b = find_run(store, ref_a), find_run(store, ref_b)
        rows = compare_metrics({k: e["value"] for k, e in store.context(a.id).items()},
                               {k: e["value"] for k, e in store.context(b.id).items()})
    finally:
        store.close()
    if as_json:
        print_json({"a": a.to_dict(), "b": b.to_dict(), "metrics": [row.to_dict() for row in rows]})
        return
    click.echo(f"A = {a.id} ({a.recipe}, {a.shown_status})\nB = {b.id} ({b.recipe}, {b.shown_status})\n")

    def shown(value: Any, present: bool) -> str:
        return value_text(value) if present else "-"

    print_table(["METRIC", "A", "B", "CHANGE"],
                [[row.key, shown(row.a, row.change != "added"), shown(row.b, row.change != "removed"),
                  change_text(row)] for row in rows])


@click.command()
@click.argument("recipe")
@click.option("--format", "fmt", type=click.Choice(GRAPH_FORMATS), default="mermaid", show_default=True,
              help="mermaid (renders on GitHub), dot (Graphviz), svg (the report's drawing, one file) or "
                   "text (the layers, for a terminal).")
@json_option
@pass_holder
def graph(holder: SessionHolder, recipe: str, fmt: str, as_json: bool) -> None:
    """The plan of RECIPE as a graph, without running it: steps, dependencies, executor, parallel, cached.

    \b
    orch graph RECIPE --format text            the layers, in the terminal
    orch graph RECIPE --format svg > dag.svg   a picture, opens in any browser

    RECIPE is a path or the name of an installed pack's recipe. The recipe is
    validated first; a bad one is reported with file and line.
    """
    from .graph import graph_of_plan

    session = holder.session()
    loaded = session.load(recipe)
    drawn = graph_of_plan(loaded, session.validate(loaded))
    if as_json:
        print_json({"recipe": loaded.name, "steps": [
            {"name": n.name, "depends_on": list(n.depends_on), "executor": n.executor, "parallel": n.parallel,
             "cached": n.cached} for n in drawn.nodes]})
        return
    if fmt == "svg":
        from .svg import draw

        click.echo(draw(drawn))
    elif fmt == "text":
        import shutil

        from orchestrator_core.display.dag_text import render_text

        click.echo(render_text(drawn.nodes, drawn.title, width=shutil.get_terminal_size((100, 24)).columns), nl=False)
    else:
        click.echo(drawn.mermaid() if fmt == "mermaid" else drawn.dot(), nl=False)


COMMANDS = (report, graph)
