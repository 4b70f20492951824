"""``orch run RECIPE --no-progress``: the plain forms of ``orch run``, read without click.

What a short ``orch run`` pays on top of the interpreter is mostly ``import click`` (it
pulls ``uuid``, ``platform``, ``datetime``, ``gettext``) and building the command line:
~15 ms on a quiet machine, as much as orch's own start-up. So :func:`main` first offers
the command line to this module, which takes it only when it understands all of it exactly
as click would: ``run RECIPE`` with the options in :data:`FLAGS` and :data:`VALUED` and the
options plugins declare (``--process-workers 2``: an on-switch, a whole number, a word),
valid values, no environment variable click would read for the command, and no plugin able
to change the command. Anything else (``--help``, another option, ``-p``, a bad value, a
value click might convert otherwise) is left to click, which reads it as it always did: every message and exit
status of a wrong command line stays click's own. Once read, the run is the very one
click's ``run`` starts (:mod:`orchestrator_core.cli.run_request`), and it ends the same
way (:mod:`orchestrator_core.cli.exit_status`).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping, Sequence

from orchestrator_core.cli.exit_status import aborted, exit_status
from orchestrator_core.cli.greedy_args import spread_greedy
from orchestrator_core.cli.holder import SessionHolder
from orchestrator_core.cli.run_request import RunRequest, declared_run_options, run_config, start_run
from orchestrator_core.config import DATA_DIR_ENV, STATE_DIR_ENV
from orchestrator_core.recipe.values import MAX_WORKERS

# The options read here: a flag sets a value of the ``run`` command's (click's parameter name).
FLAGS = {"--progress": ("progress", True), "--no-progress": ("progress", False),
         "--no-cache": ("no_cache", True), "--keep-going": ("keep_going", True)}
VALUED = ("--executor", "--workers", "--only", "--skip")

# Every option of click's ``run`` command (not those plugins add), and those of them that take a value:
# a plugin's option never takes one of these flags, and a value is no recipe (a test holds them to the command's).
RUN_COMMAND_FLAGS = frozenset({
    "--recipe", "--only", "--skip", "--resume-from", "--workers", "--executor", "--keep-going", "--events",
    "--data-dir", "--set", "--progress", "--state-dir", "--no-cache", "--dry-run", "--json", "-h", "--help"})
TAKES_VALUE = frozenset({"--recipe", "--only", "--skip", "--resume-from", "--workers", "--executor", "--events",
                         "--data-dir", "--set", "--state-dir"})

# Read by click for ``orch run`` (or by ``main`` around it): when one is set, click reads the command line.
CLICK_ENV = ("_ORCH_COMPLETE", "ORCH_TRACEBACK", DATA_DIR_ENV, STATE_DIR_ENV)

# The packages of the project's own plugins that add commands (none is ``run``). Another plugin's
# ``orch_add_commands`` could replace ``orch run``: click then reads the command line.
KNOWN_COMMAND_PACKAGES = frozenset({"orchestrator_core", "orchestrator_reporting"})


class _ClickReads(Exception):
    """Found once the plugins were asked: click must read this command line."""


def plain_run(args: Sequence[str], holder: SessionHolder) -> int | None:
    """The exit status of ``orch ARGS`` run on the plain path; ``None``: click is to read ``args``."""
    if not _may_be_plain(args, holder):
        return None
    try:
        return exit_status(lambda: _run(args, holder))
    except _ClickReads:
        return None


def plain_request(args: Sequence[str], holder: SessionHolder) -> RunRequest | None:
    """The run ``orch ARGS`` asks for, read as click would read it; ``None`` when only click can read it."""
    return _read_request(args, holder) if _may_be_plain(args, holder) else None


def _may_be_plain(args: Sequence[str], holder: SessionHolder) -> bool:
    """What can be told without the registry: an ``orch run``, no variable click reads, no plugin adding commands."""
    return (bool(args) and args[0] == "run" and not any(name in os.environ for name in CLICK_ENV)
            and commands_known(holder))


def _read_request(args: Sequence[str], holder: SessionHolder) -> RunRequest | None:
    """The request, when the plain path reads all of the command line (asks the registry for the plugins' options)."""
    declared = [option for option, _ in declared_run_options(holder, set(RUN_COMMAND_FLAGS))]
    options = read_plain_args(args, {option.flag: option for option in declared})
    return None if options is None else _request(options, declared)


def _run(args: Sequence[str], holder: SessionHolder) -> int:
    """Configure logging, read the command line and the plugins' options, run: what the group and ``run`` do for click."""
    from orchestrator_core.log import LEVEL_ENV, configure_logging

    try:
        try:
            configure_logging(os.environ.get(LEVEL_ENV) or None)
        except ValueError:  # click's message for it
            raise _ClickReads from None
        request = _read_request(args, holder)
        if request is None:
            raise _ClickReads
        return start_run(holder, request)
    except KeyboardInterrupt:  # as click's ``Abort``, which closes the terminal's ^C echo first
        sys.stderr.write("\n")
        return aborted()


def read_plain_args(args: Sequence[str], declared: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The options of ``orch ARGS`` by click's parameter names, when the plain path understands all of it.

    ``declared``: the options plugins declare for ``orch run``, by flag; their values go
    to ``options["plugin"]`` by ``dest``, converted as click would convert them.
    """
    if not args or args[0] != "run" or any(name in os.environ for name in CLICK_ENV):
        return None
    declared = declared or {}
    words = spread_greedy(args[1:], TAKES_VALUE)
    options: dict[str, Any] = {"recipe": None, "progress": None, "no_cache": False, "keep_going": False,
                               "executor": None, "workers": None, "only": [], "skip": [], "plugin": {}}
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word in FLAGS:
            name, value = FLAGS[word]
            options[name] = value
        elif word.startswith("-"):
            flag, equals, value = word.partition("=")
            option = declared.get(flag)
            if option is not None and option.is_flag:
                if equals or click_default(option) is not False:
                    return None  # a value for a switch, or a switch click turns off: click's reading
                options["plugin"][option.dest] = True
                continue
            if flag not in VALUED and option is None:
                return None
            if not equals:
                if i == len(words):
                    return None
                value = words[i]
                i += 1
            if option is not None:
                converted = _plugin_value(option, value)
                if converted is _UNSURE:
                    return None
                options["plugin"][option.dest] = converted
                continue
            if not _plain_value(flag, value):
                return None
            if flag in ("--only", "--skip"):
                options[flag[2:]].append(value)
            else:
                options[flag[2:]] = int(value) if flag == "--workers" else value
        elif options["recipe"] is None and word:
            options["recipe"] = word
        else:
            return None  # a second recipe, or an empty one: click's error
    return options if options["recipe"] is not None else None


def _plain_value(flag: str, value: str) -> bool:
    """Whether click takes ``value`` for ``flag`` as it stands (else click reads it and says what is wrong)."""
    if not value or value.startswith("-"):
        return False
    if flag == "--workers":
        return value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_WORKERS
    return True


def _plugin_value(option: Any, value: str) -> Any:
    """A plugin option's ``value`` as click converts it; ``_UNSURE`` where click might read it otherwise.

    Taken: plain ASCII digits for a whole number, any word for text; click reads every
    other value (a sign, spaces, a float, a word starting with ``-``) and says what is wrong.
    """
    if not value or value.startswith("-"):
        return _UNSURE
    if option.type is int:
        return int(value) if value.isascii() and value.isdigit() else _UNSURE
    return value if option.type is str else _UNSURE


def commands_known(holder: SessionHolder) -> bool:
    """Whether every plugin that adds commands is one of the project's own, so ``orch run`` is the core's."""
    for impl in holder.pm.hook.orch_add_commands.get_hookimpls():
        module = getattr(impl.plugin, "__name__", None) or type(impl.plugin).__module__
        if module.partition(".")[0] not in KNOWN_COMMAND_PACKAGES:
            return False
    return True


def _request(options: dict[str, Any], declared: list[Any]) -> RunRequest | None:
    """The request, the ``declared`` plugin options left off the command line at their defaults as click fills them."""
    plugin_options = {}
    for option in declared:
        if (option.env and option.env in os.environ) or option.dest in plugin_options or option.dest in _OWN_NAMES:
            return None
        value = options["plugin"].get(option.dest, _ABSENT)
        if value is _ABSENT:
            value = click_default(option)
        if value is _UNSURE:
            return None
        plugin_options[option.dest] = value
    config = run_config(workers=options["workers"], executor=options["executor"], keep_going=options["keep_going"],
                        events=None, data_dir=None, progress=options["progress"], state_dir=None,
                        no_cache=options["no_cache"], plugin_options=plugin_options)
    return RunRequest(options["recipe"], config, only=tuple(options["only"]), skip=tuple(options["skip"]))


# click's parameter names of the ``run`` command: a plugin option by one of these names would shadow it.
_OWN_NAMES = frozenset({"recipe_arg", "recipe_opt", "only", "skip", "resume_from", "workers", "executor",
                        "keep_going", "events", "data_dir", "assignments", "progress", "state_dir", "no_cache",
                        "dry_run", "as_json"})
_UNSURE = object()
_ABSENT = object()


def click_default(option: Any) -> Any:
    """The value click gives a plugin's option left off the command line; ``_UNSURE`` where it may convert it.

    No default is ``None`` (left out of ``config.options``); a flag's ``True``/``False`` and a
    value of exactly the option's type (``int``, ``float``, ``str``, ``bool``) are kept as they are.
    """
    default = option.default
    if option.is_flag:
        return default if type(default) is bool else _UNSURE
    if default is None:
        return None
    return default if option.type in (str, int, float, bool) and type(default) is option.type else _UNSURE
