"""The ``orch`` command line.

The group is built after the plugins are loaded, so plugins can add commands
(``orch_add_commands``). Everything heavier than click and pluggy is imported
inside the command that needs it, which keeps ``orch --help`` fast; click itself is
imported once a command line is built, so ``orch --version`` needs neither it nor a plugin,
and ``orch run RECIPE`` in its plain forms is read without it (:mod:`.plain_run`).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Sequence

from orchestrator_core._markers import __version__

if TYPE_CHECKING:
    import click

    from orchestrator_core.cli.holder import SessionHolder
    from orchestrator_core.plugin.manager import OrchPluginManager


def _blocked_from_argv(argv: Sequence[str]) -> list[str]:
    """``-p no:NAME`` options, read before click parses, since plugins shape the commands."""
    blocked = []
    for i, arg in enumerate(argv):
        value = None
        if arg == "-p" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("-pno:"):
            value = arg[2:]
        if value and value.startswith("no:"):
            blocked.append(value[3:])
    return blocked


# Each core command and where it is defined (``module:attribute`` in this package), imported
# when the command is used or listed: ``orch run`` builds no other command (~5 ms).
CORE_COMMANDS = {
    "run": "running:run", "validate": "running:validate",
    "plugins": "listing:plugins", "recipes": "listing:recipes", "steps": "listing:steps",
    "step": "step:step_group", "new": "new:new_group",
    "runs": "history:runs", "context": "history:context", "why": "history:why",
    "serve": "serve:serve", "doctor": "doctor:doctor",
}


def build_cli(pm: OrchPluginManager, holder: SessionHolder | None = None) -> click.Group:
    """The ``orch`` group with the core commands and those plugins add (``holder``: the one its commands get)."""
    import click

    from orchestrator_core.plugin.hooks import Hooks
    from orchestrator_core.cli.common import OrchGroup
    from orchestrator_core.cli.holder import SessionHolder

    @click.group(cls=OrchGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
    @click.version_option(__version__, "--version", prog_name="orch", message="%(prog)s %(version)s")
    @click.option("-p", "plugin_options", multiple=True, metavar="no:NAME",
                  help="Do not load plugin NAME (also $ORCH_DISABLE_PLUGINS=a,b).")
    @click.option("--log-level", envvar="ORCH_LOG_LEVEL", default=None,
                  help="DEBUG, INFO, WARNING (default) or ERROR; logs go to stderr.")
    @click.option("--traceback", is_flag=True, help="Show the full traceback of internal errors.")
    @click.pass_context
    def cli(ctx: click.Context, plugin_options: tuple[str, ...], log_level: str | None, traceback: bool) -> None:
        """orch runs recipes of scriptlets as a DAG: inline, on threads, in processes or on a cluster.

        \b
        Quick start:
          orch recipes list                 recipes of the installed packs
          orch run RECIPE                   run one (by name or path)
          orch validate RECIPE              check it without running
          orch plugins list                 what is installed
        """
        from orchestrator_core.log import configure_logging

        try:
            configure_logging(log_level)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--log-level") from None
        ctx.obj = holder if holder is not None else SessionHolder(pm)
        ctx.obj.traceback = traceback

    cli.lazy_commands = CORE_COMMANDS  # type: ignore[attr-defined]
    Hooks(pm).add_commands(cli)
    return cli


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``orch`` console script."""
    from orchestrator_core.display.streams import checked, open_standard_descriptors

    open_standard_descriptors()  # before anything opens a file that would take a closed fd 1 or 2
    sys.stdout = checked(sys.stdout)  # a full disk behind stdout is an error line, not a traceback
    from orchestrator_core.cli.exit_status import aborted

    try:
        _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while orch starts (imports, plugins), before a command catches it
        sys.exit(aborted())


def _main(argv: Sequence[str] | None) -> None:
    from orchestrator_core.cli.exit_status import exit_status, say

    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:  # answered before any plugin (or click) is loaded
        sys.exit(exit_status(_print_version))
    from orchestrator_core.cli.holder import SessionHolder
    from orchestrator_core.cli.plain_run import plain_run
    from orchestrator_core.plugin.manager import (
        ALLOW_ENV, DISABLE_ENV, create_plugin_manager, failure_messages, names_from_env, unknown_plugin_names,
    )

    _escape_unprintable_output()

    blocked = _blocked_from_argv(args)
    # A misspelt name in any of the three would block nothing, or (the allow-list) every pack.
    unknown = unknown_plugin_names(blocked) + [
        message for var in (DISABLE_ENV, ALLOW_ENV)
        for message in unknown_plugin_names(sorted(names_from_env(var)), spelling=f"{var}={{name}}")]
    if unknown:
        for message in unknown:
            say(f"error: {message}")
        sys.exit(2)
    pm = create_plugin_manager(blocked=blocked)
    _out_of_the_collectors_sight()
    for message in failure_messages(pm):
        say(f"warning: {message}")
    holder = SessionHolder(pm)
    code = plain_run(args, holder)  # ``orch run RECIPE`` in its plain forms, without click
    if code is None:
        traceback = "--traceback" in args or bool(os.environ.get("ORCH_TRACEBACK"))
        code = exit_status(lambda: _click_main(args, holder, traceback), traceback=traceback)
    sys.exit(code)


def _out_of_the_collectors_sight() -> None:
    """Keep what orch loaded to start (modules, classes, the plugins) out of the garbage collector's walks.

    These ~16,000 objects live as long as the process, yet every full collection walks them
    again, and so do the collections the interpreter runs as it exits: ~10 ms of a 100 ms
    ``orch run`` (``bench/peers.py``). ``gc.freeze`` moves them to a generation no collection
    visits. What a run creates afterwards (its steps, results, and everything a step
    allocates) is collected as before, at exit too; the store's connection is closed by its
    ``atexit`` finalizer, not by a collection.
    """
    import gc

    gc.freeze()


def _print_version() -> int:
    sys.stdout.write(f"orch {__version__}\n")
    return 0


def _escape_unprintable_output() -> None:
    """Let stdout print a name that is not UTF-8 backslash-escaped, as stderr does, instead of failing.

    Such a name holds lone surrogates (PEP 383: a file matched by a glob, a value a step
    wrote), and ``orch why`` or a table shows it. Python's stdout refuses them under
    most UTF-8 locales (``strict``); under C.UTF-8 it writes their bytes already.
    """
    if getattr(sys.stdout, "errors", None) == "strict" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")


def _click_main(args: list[str], holder: SessionHolder, traceback: bool) -> int:
    """The exit status of the command line as click reads it (its own errors reported as click reports them)."""
    import click

    from orchestrator_core.cli.exit_status import aborted

    try:
        code = build_cli(holder.pm, holder).main(args, prog_name="orch", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        return aborted()
    except click.ClickException as exc:
        exc.show()
        return 2 if isinstance(exc, click.UsageError) else exc.exit_code
    return code if isinstance(code, int) else 0


def _cli_for_docs() -> Any:
    """The group with only the built-in plugins (for documentation and tests)."""
    from orchestrator_core.plugin.manager import create_plugin_manager

    return build_cli(create_plugin_manager(load_entrypoints=False))
