"""``orch plugins list``, ``orch recipes list``, ``orch steps list|show|check``: what is installed."""

from __future__ import annotations

import click

from orchestrator_core.cli.common import (
    SessionHolder, json_option, pass_holder, print_json, print_table, state_dir_option,
)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _plain(text: str) -> str:
    """A docstring line without its reStructuredText markup (``key``, :class:`Name`), for tables."""
    import re

    text = re.sub(r":[a-z:]+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")


@click.group()
def plugins() -> None:
    """Installed plugins (built-ins included)."""


@plugins.command("list")
@json_option
@click.option("--hook", "hooks", multiple=True, metavar="NAME", help="Only plugins implementing this hook.")
@pass_holder
def plugins_list(holder: SessionHolder, as_json: bool, hooks: tuple[str, ...]) -> None:
    """Every plugin: name, version, distribution, source and the hooks it implements.

    A plugin that could not be loaded shows its error instead of hooks; one that loaded
    but registered something broken (a scriptlet module that does not import) shows each
    problem after its hooks (``--json``: ``error`` and ``problems``).
    """
    session = holder.session()  # registers the helper objects built-ins add on configure
    _warn_broken_scriptlets(session.registry)
    infos = holder.pm.plugin_infos()
    if hooks:
        infos = [i for i in infos if set(hooks) & set(i.hooks)]
    rows = [(i, [] if i.error else session.registry.problems_of(i.name)) for i in infos]
    if as_json:
        print_json([{**i.as_dict(), "problems": problems} for i, problems in rows])
        return
    print_table(
        ["NAME", "VERSION", "DISTRIBUTION", "SOURCE", "HOOKS"],
        [[i.name, i.version or "-", i.distribution or "-", i.source, _hooks_cell(i, problems)] for i, problems in rows],
    )


def _hooks_cell(info, problems: list[str]) -> str:
    """The hooks a plugin implements; its error when it did not load, or its problems after the hooks."""
    if info.error:
        return f"ERROR: {info.error}"
    hooks = ", ".join(h.removeprefix("orch_") for h in info.hooks)
    return "; ".join([hooks, *(f"PROBLEM: {problem}" for problem in problems)])


@click.group()
def recipes() -> None:
    """Recipes shipped by installed packs."""


@recipes.command("list")
@json_option
@pass_holder
def recipes_list(holder: SessionHolder, as_json: bool) -> None:
    """Every recipe installed packs ship; run one with `orch run NAME`.

    A name two packs ship is listed for each, marked "(clash)": run it as `orch run PACK:NAME`
    (``--json``: ``qualified`` is that spelling, ``clash`` is true).
    """
    from orchestrator_core.recipe.lookup import clashing, list_recipes

    entries = list_recipes(holder.session().registry)
    clashes = clashing(entries)
    rows = [{"name": e.name, "qualified": e.qualified, "pack": e.pack, "distribution": e.provider,
             "clash": e.name in clashes, "path": str(e.path), "description": _description(e.path)}
            for e in entries]
    if as_json:
        print_json(rows)
    else:
        print_table(["NAME", "PACK", "DESCRIPTION"],
                    [[f"{r['qualified']} (clash)" if r["clash"] else r["name"], r["pack"], r["description"]]
                     for r in rows])
    if clashes:
        click.echo(f"orch: {len(clashes)} recipe name(s) shipped by more than one pack: "
                   f"{', '.join(sorted(clashes))}; run one as `orch run PACK:NAME`", err=True)


def _description(path) -> str:
    """The recipe's ``description`` (first line), read without validating the recipe."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return "(unreadable)"
    return _first_line(data.get("description")) if isinstance(data, dict) else ""


@click.group()
def steps() -> None:
    """Scriptlets registered by installed packs."""


@steps.command("list")
@json_option
@pass_holder
def steps_list(holder: SessionHolder, as_json: bool) -> None:
    """Every registered scriptlet, the pack it came from, its params and the keys it writes.

    Scripts the packs ship (run by ``type: shell`` steps with ``script: NAME``) are
    listed too, with type ``shell``, by file name (``pack:NAME`` where two packs ship it).
    The table names each scriptlet by its qualified name, ``plugin:name``, which a recipe
    may always write; a recipe may leave out ``plugin:`` where no other pack registers the
    name (``--json`` has both, as ``name`` and ``qualified``).
    """
    from orchestrator_core.recipe.lookup import clashing, list_scripts

    session = holder.session()
    _warn_broken_scriptlets(session.registry)
    unique = set(session.registry.names("scriptlet"))
    rows = [_describe(entry) for entry in session.registry.all_entries("scriptlet")]
    for row in rows:
        row["uses"] = row["name"] if row["name"] in unique else row["qualified"]  # what a bare recipe needs
    scripts = [entry for entry in list_scripts(session.registry) if entry.executable]
    clashes = clashing(scripts)
    rows += [_describe_script(entry, entry.name in clashes) for entry in scripts]
    rows.sort(key=lambda r: r["name"])
    if as_json:
        print_json(rows)
    else:
        print_table(["NAME", "PACK", "PARAMS", "OUTPUTS", "DESCRIPTION"],
                    [[r["uses"] if r["type"] == "shell" else r["qualified"], r["pack"], ", ".join(r["params"]),
                      ", ".join(r["outputs"]), _plain(r["description"])] for r in rows])


@steps.command("show")
@click.argument("name")
@json_option
@pass_holder
def steps_show(holder: SessionHolder, name: str, as_json: bool) -> None:
    """The documentation of scriptlet NAME: its pack, params (with schema), outputs and docstring."""
    import inspect
    import json

    entry = holder.session().registry.get("scriptlet", name)
    described = _describe(entry)
    described["doc"] = inspect.getdoc(entry.obj) or ""
    described["module_doc"] = inspect.getdoc(inspect.getmodule(entry.obj)) or ""
    if as_json:
        print_json(described)
        return
    click.echo(f"{described['name']}  ({described['class']}, from {described['pack']})\n")
    for text in (described["doc"], described["module_doc"]):
        if text:
            click.echo(_plain(text) + "\n")
    click.echo(f"outputs:  {', '.join(described['outputs']) or '(none)'}")
    click.echo(f"inputs:   {', '.join(described['inputs']) if described['inputs'] is not None else '(whole context)'}")
    flags = [f for f in ("parallelizable", "requires_process") if described[f]]
    click.echo(f"flags:    {', '.join(flags) or '(none)'}")
    if described["params_schema"]:
        click.echo("params schema:\n" + json.dumps(described["params_schema"], indent=2))


@steps.command("check")
@click.option("--recipe", default=None, metavar="NAME", help="Only runs of this recipe.")
@click.option("--strict", is_flag=True, help="Exit with status 1 when a key changed shape.")
@state_dir_option
@json_option
@pass_holder
def steps_check(holder: SessionHolder, recipe: str | None, strict: bool, state_dir, as_json: bool) -> None:
    """Warn where a key recorded in the state store changed shape between runs.

    A key's shape (its type, list item shapes, object keys) is a contract with every
    step that reads it: a new shape must be a new key (metrics.summary_v2 beside
    metrics.summary_v1). Each change is reported with the run and step that made it.
    Every registered scriptlet is imported first: one that cannot be (a pack's wrong
    import path, a class whose name is not the one registered) is an error, exit status 1.
    """
    from orchestrator_core.state.shapes import shape_changes
    from orchestrator_core.cli.common import open_store

    broken = holder.registry().load_all("scriptlet")
    for problem in broken:
        click.echo(f"orch: error: {problem}", err=True)
    store = open_store(state_dir, required=False)
    changes = []
    if store is not None:
        try:
            changes = shape_changes(store.original_writes(recipe=recipe))
        finally:
            store.close()
    if as_json:
        print_json([c.to_dict() for c in changes])
    else:
        for c in changes:
            by = f" by step {c.step!r}" if c.step else ""
            click.echo(f"warning: key {c.key!r} changed shape in run {c.after_run}{by}: {c.before} "
                       f"(run {c.before_run}) -> {c.after}; a new shape must be a new key, "
                       f"such as {_next_version(c.key)!r}", err=True)
        if not changes:
            verdict = "every recorded key kept its shape" if store is not None else "no run recorded yet"
            click.echo(f"{'ok: ' if not broken else ''}{verdict}", err=True)
    raise click.exceptions.Exit(1 if broken or (strict and changes) else 0)


def _warn_broken_scriptlets(registry) -> None:
    """Import the scriptlets registered lazily, as a listing needs them, and warn about those that cannot be."""
    for problem in registry.load_all("scriptlet"):
        click.echo(f"orch: warning: {problem}", err=True)


def _next_version(key: str) -> str:
    from orchestrator_core.recipe.prepare import VERSIONED_KEY

    found = VERSIONED_KEY.search(key)
    return f"{key[:found.start()]}_v{int(found.group()[2:]) + 1}" if found else f"{key}_v2"


def _describe(entry) -> dict:
    from orchestrator_core.scriptlet.base import scriptlet_name

    cls = entry.obj
    schema = cls.params_schema or {}
    return {
        "name": scriptlet_name(cls), "qualified": entry.qualified, "type": "python", "pack": entry.provider,
        "plugin": entry.plugin,
        "class": f"{cls.__module__}.{cls.__qualname__}", "outputs": list(cls.outputs or ()),
        "inputs": list(cls.inputs) if cls.inputs is not None else None,
        "params": sorted(schema.get("properties", {})), "params_schema": cls.params_schema,
        "parallelizable": bool(cls.parallelizable), "requires_process": bool(cls.requires_process),
        "description": _first_line(cls.__doc__),
    }


def _describe_script(entry, clash: bool) -> dict:
    """A pack's script as a row of ``orch steps list``; what it writes is known only when it runs. A name
    two packs ship is shown as ``pack:name``, what a recipe of neither pack writes in ``script:``."""
    return {
        "name": entry.name, "type": "shell", "pack": entry.provider, "plugin": entry.pack,
        "qualified": entry.qualified, "uses": entry.qualified if clash else entry.name,
        "path": str(entry.path), "outputs": [], "inputs": [], "params": [],
        "description": _script_description(entry.path),
    }


def _script_description(path) -> str:
    """The first comment line of a script after its ``#!`` line."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = [handle.readline() for _ in range(10)]
    except OSError:
        return "(unreadable)"
    for line in head:
        text = line.strip()
        if text.startswith("#!") or not text:
            continue
        return text.lstrip("#").strip() if text.startswith("#") else ""
    return ""


COMMANDS = (plugins, recipes, steps)
