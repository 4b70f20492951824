"""Every hook of orch, in one place.

Three kinds of hook, and only three:

* **registration** hooks return classes (or paths) carrying a name; every plugin's
  answer is collected, and two plugins registering one name is an error naming both;
* **lifecycle** hooks are notifications about a run (kedro-style triads); they
  return nothing;
* **decision** hooks are ``firstresult``: the first non-``None`` answer wins, and the
  built-in answer is a ``trylast`` implementation, so any plugin can pre-empt it.

Arguments are keyword nouns reused everywhere (``config``, ``run``, ``step``,
``result``, ``error``...), so an implementation may accept any subset of them.
Wrappers (``wrapper=True``) are allowed on every hook; a registration hook is
called once per plugin that implements it (so the registry knows who registered
what), and wrappers wrap each of those calls.

Lifecycle hooks are all called on the thread that runs the recipe (the main thread
for ``orch run``), never on an executor's thread or process, in this order:
``orch_run_start``; for each step started, ``orch_external_writes`` then
``orch_before_step`` (again for each retry), then ``orch_after_step`` or
``orch_on_step_error`` once, in completion order; ``orch_external_writes`` once
more; ``orch_run_finish`` exactly once. Once ``orch_run_start`` was called,
``orch_run_finish`` always follows, whatever raised in between.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator_core._markers import hookspec

if TYPE_CHECKING:
    from pathlib import Path

    import click
    import pluggy

    from orchestrator_core.config import Config
    from orchestrator_core.model import CachedResult, Recipe, Step, StepResult, Write
    from orchestrator_core.run.state import Run
    from orchestrator_core.scriptlet.base import LazyScriptlet


# ---------------------------------------------------------------------------------------------
# set-up
# ---------------------------------------------------------------------------------------------


@hookspec(historic=True)
def orch_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add new hook specifications, for plugins that define hooks of their own.

    Called once for every plugin as it is registered (historic: a plugin registered
    later still receives the call).

    :param pluginmanager: the plugin manager; call ``pluginmanager.add_hookspecs(module)``.

    .. versionadded:: 0.1
    """


@hookspec(historic=True)
def orch_configure(config: Config) -> None:
    """Set the plugin up for this invocation of ``orch`` (or this ``run_recipe`` call).

    Called once, after all plugins are loaded, when the command has built its
    configuration from its options (``orch run --workers 3`` is seen as 3) and before
    it does anything; a plugin registered later still receives it (historic). Read
    options from ``config`` (it is read-only from then on: a plugin cannot change
    what another one saw), register helper objects with
    ``config.pluginmanager.register(obj, name)``. Raising stops the command before
    it did anything (a ``UsageError`` is exit status 2).

    :param config: the invocation's configuration (options, working directory,
        plugin manager).

    .. versionadded:: 0.1
    """


@hookspec
def orch_add_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``orch`` command line (``orch report``, ``orch serve``...).

    Called once while the command line is being built. Use ``cli.add_command(cmd)``.
    Import heavy libraries inside the command's callback, not at module level, so
    ``orch --help`` stays fast.

    :param cli: the ``orch`` click group.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------


@hookspec
def orch_register_scriptlets() -> list[type | LazyScriptlet]:
    """Return the scriptlet classes this plugin provides, or where to find them.

    Called once per implementing plugin when the registry is built, at every start of
    ``orch``. Each class subclasses ``orchestrator_core.BaseScriptlet`` and carries a
    ``name`` that recipes use in ``uses:``. A ``LazyScriptlet(name, "module:Class")``
    registers ``name`` without importing its module: the class is imported (and must
    subclass ``BaseScriptlet`` and have that ``name``) when a recipe uses it or a listing
    needs it, so a pack of many scriptlets costs a run only those it uses; a registration
    that does not hold is an error naming the plugin, where it is used and in ``orch
    steps check``. All results are collected; a name registered by two plugins is
    ambiguous: a recipe writes ``plugin:name``, and the error for the bare name says so.

    :return: a list of classes (not instances) and ``LazyScriptlet`` entries, mixed as you like.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``LazyScriptlet`` entries.
    """


@hookspec
def orch_register_recipe_dirs() -> list[str | Path]:
    """Return folders holding this plugin's recipes (``*.yaml``) and scripts.

    Called when a recipe is looked up by name (``orch run 06_parallel_fan_in``), by
    ``orch recipes list``, and by step types that find scripts by name. All results
    are collected. A pack's own recipes run its own scripts; a recipe or script name
    two packs ship is an error naming both where it is used bare (``pack:name``
    chooses one), whatever the plugin order.

    :return: a list of directory paths.

    .. versionadded:: 0.1
    """


@hookspec
def orch_register_step_types() -> list[type]:
    """Return step type classes (``python``, ``shell``...) this plugin provides.

    Called once per implementing plugin when the registry is built. A step type has a
    ``name`` (the value of ``type:`` in a recipe), ``fields`` (the extra recipe keys it
    accepts, name → type), ``validate(step, recipe, registry)`` returning a list of
    problem messages, and ``prepare(step, recipe, registry)`` returning a picklable
    handler that runs the step. All results are collected; duplicate names are an error naming both.

    :return: a list of classes.

    .. versionadded:: 0.1
    """


@hookspec
def orch_register_executors() -> list[type]:
    """Return executor classes (``inline``, ``thread``, ``process``, ``dask``...).

    Called once per implementing plugin when the registry is built. An executor has a
    ``name``, a ``capabilities`` declaration, ``options`` (the ``orch run`` options it
    adds), ``default_for`` (the steps it runs when nothing else chooses: ``serial``,
    ``parallel``, ``requires_process``), and ``check()`` (refuse a bad configuration
    before the run starts), ``start()``, ``submit(task)`` returning a
    ``concurrent.futures.Future`` of a ``StepResult``, ``cancel(future)`` and
    ``shutdown(cancel)``. Before ``start()`` the runner sets ``planned_steps``, how
    many steps of the plan go to the executor, so a pool can start that many workers
    at once. All results are collected; duplicate names are an error.

    :return: a list of classes.

    .. versionadded:: 0.1
    """


@hookspec
def orch_register_merge_strategies() -> list[type]:
    """Return merge strategy classes (``last_write_wins``, ``append``...) this plugin provides.

    Called once when the registry is built. A strategy has a ``name`` (what a recipe's
    ``merge`` names, for every key or per key), a one-line ``description``, and
    ``merge(key, current, incoming)`` returning the value the context keeps when a
    second step of a run writes ``key`` (``current`` is always the earlier step's value
    in recipe order); it raises ``ContextConflictError`` to refuse. Subclass
    ``orchestrator_core.MergeStrategy``. All results are collected;
    duplicate names are an error naming both.

    :return: a list of classes.

    .. versionadded:: 0.2
    """


@hookspec
def orch_validate_recipe(recipe: Recipe) -> list[str] | None:
    """Return extra problems this plugin finds in ``recipe``.

    Called by ``orch validate`` and before every run, after the framework's own
    checks passed. All results are collected; any problem stops the run (exit 2).

    :param recipe: the parsed recipe.
    :return: a list of messages (prefix one with ``"<step name>: "`` to locate it at
        that step's line), or ``None``.

    .. versionadded:: 0.1
    """


@hookspec
def orch_report(run: Run, out_dir: Path) -> list[str] | None:
    """Write report artifacts for a finished run and return their paths.

    Called by ``orch report`` (a command a reporting plugin adds) with the run read
    back from the state store: its results, its context (with who wrote each key) and
    its recipe. All results are collected. The command's own options travel in
    ``run.config.options``.

    :param run: the run to report on.
    :param out_dir: the folder to write into.
    :return: the paths written, or ``None``.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------------------------
# lifecycle
# ---------------------------------------------------------------------------------------------


@hookspec
def orch_run_start(run: Run) -> None:
    """A run is about to start: the plan is made, no step has run yet.

    Called on the thread that runs the recipe, after every check (recipe, executors
    and their options) passed. Raising stops the run before any step: the exception
    propagates (a ``UsageError`` is exit status 2, nothing ran) and
    ``orch_run_finish`` is still called, with status ``error``, also for the
    implementations that came after the one that raised, which never saw the start.

    :param run: the run (``run.id``, ``run.recipe``, ``run.plan``, ``run.config``,
        ``run.context``).

    .. versionadded:: 0.1
    """


@hookspec
def orch_before_step(run: Run, step: Step) -> None:
    """A step starts: it is handed to its executor, or a worker took it (called again for each retry).

    Called on the thread that runs the recipe, after ``orch_external_writes``; also
    for a cache hit, which then does not run. A step queued ahead in an executor (the
    thread executor takes ready steps ahead of its free workers, and runs ``--workers`` at once) is
    announced when a worker takes it, never while it waits: the call may then come
    as the step is already running on its thread, always before its
    ``orch_after_step`` or ``orch_on_step_error``. Raising stops the run: running steps
    are cancelled, ``orch_run_finish`` is called with status ``error`` and the
    exception propagates (``orch run`` exits 1).

    :param run: the run.
    :param step: the step.

    .. versionadded:: 0.1
    """


@hookspec
def orch_external_writes(run: Run) -> list[Write] | None:
    """Return the writes made to the run from outside it since the last call.

    Called by the runner before steps start (once for the steps it starts together:
    before their ``orch_before_step`` and cache lookups) and once more when the last step
    has finished; the writes are recorded in the run's context in the order given, as
    they are (no merge hook: a later step's write of the same key replaces them). The
    built-in ``state`` plugin answers with what clients wrote to the run through
    ``orch serve``. All results are collected.

    :param run: the run.
    :return: the new writes (``Write`` with ``step=None`` and the writer as ``who``),
        or ``None``.

    .. versionadded:: 0.1
    """


@hookspec
def orch_record_steps(run: Run, finished: list[tuple[Step, StepResult, float]]) -> None:
    """Make a group of finished steps durable, before any reporter hears of them.

    Called on the thread that runs the recipe with the steps that finished since the
    last call, in completion order, each with its final result (ok or error, deltas
    merged); then ``orch_after_step`` or ``orch_on_step_error`` is called for each of
    them, in the same order. The runner calls it when it is about to wait, before a
    step that may run on its own thread for a while, when 256 steps wait or the oldest
    finished 20 ms ago, and before ``orch_run_finish`` (also after Ctrl-C or a
    failure). The built-in ``state`` plugin records the group in one transaction, so
    a step reported as finished is in the store, also after a ``kill -9``. Raising
    stops the run: none of the group is reported, running steps are cancelled,
    ``orch_run_finish`` is called with status ``error`` and the exception propagates
    (``orch run`` exits 1). After Ctrl-C during this call or the reports that
    follow it, the runner calls it once more with the steps not yet reported,
    before ``orch_run_finish``: skip what you already recorded.

    :param run: the run.
    :param finished: ``(step, result, when)``, in the order the steps finished;
    ``when`` is the time the step finished (``time.time()``).

    .. versionadded:: 0.3
    """


@hookspec
def orch_after_step(run: Run, step: Step, result: StepResult) -> None:
    """A step succeeded (or was a cache hit) and its delta is merged into the context.

    Called once per step, when its final result is known and recorded (after the
    ``orch_record_steps`` call of its group), in completion order, on the thread
    that runs the recipe. Raising stops the run: running steps are
    cancelled, ``orch_run_finish`` is called with status ``error`` and the exception
    propagates (``orch run`` exits 1).

    :param run: the run.
    :param step: the step.
    :param result: its result (``result.line()`` is its JSON status line).

    .. versionadded:: 0.1
    """


@hookspec
def orch_on_step_error(run: Run, step: Step, result: StepResult, error: dict[str, Any]) -> None:
    """A step failed for good (after its retries); nothing of its delta was merged.

    Called once per failed step, in completion order (after the ``orch_record_steps``
    call of its group), on the thread that runs the recipe. Raising stops the run
    like raising in ``orch_after_step``.

    :param run: the run.
    :param step: the step.
    :param result: its result.
    :param error: the guide's error JSON (``status``, ``reason``, ``details``,
        ``exit_code``, ``step``, ``ts``).

    .. versionadded:: 0.1
    """


@hookspec
def orch_run_finish(run: Run) -> None:
    """A run ended (``run.status`` is ``ok``, ``error`` or ``interrupted``).

    Called exactly once for every run whose ``orch_run_start`` was called, on the
    thread that runs the recipe, after the last step: also when a step failed, when
    a plugin or an executor raised (status ``error``; the exception propagates after
    this hook) and on Ctrl-C or SIGTERM (``interrupted``). So a plugin may count on
    it to close what it opened; it may also see a run whose ``orch_run_start`` it
    never got (an earlier implementation of that hook raised). The run's results
    are in ``run.results``. Raising here propagates, and the implementations pluggy
    would call after this one are skipped: close what you must without raising.

    :param run: the run.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------------------------
# decisions
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def orch_cache_key(step: Step, inputs: dict[str, Any], run: Run) -> str | None:
    """Return the fingerprint under which ``step``'s result is cached.

    Called by the runner just before a cacheable step (``cache_key`` or ``cache: true``)
    would run, once its dependencies have finished, unless the run has ``--no-cache``;
    also by ``orch run --dry-run`` and ``orch why``, which run nothing. The built-in
    answer is a SHA-256 of the canonical JSON of ``inputs``. Stops at the first
    non-None result.

    :param step: the step.
    :param inputs: what the fingerprint covers: ``identity`` (the scriptlet's
        ``module:Class``), ``source`` (a digest of its source, or ``None``),
        ``params``, ``cache_key`` (the recipe's, or ``None``), ``upstream``
        (dependency name → digest of the values that step and every step before it
        wrote), ``context`` when the run started with values no step wrote (a digest
        of the recipe's ``context:`` and ``--set``) and, when the step
        reads files, ``files`` (path → SHA-256 of its content, ``None`` when it is
        missing; glob → ``{matched file: SHA-256}``): the recipe's ``files:``, the
        scriptlet's ``files()`` and the upstream steps' ``artifact`` files, hashed
        with the state store's stat fast path. Changing any of them must change the
        key; the state store keeps them to explain a miss.
    :param run: the run (a planned one for a dry run).
    :return: a key string, or ``None`` to let the next plugin decide (no plugin
        answering makes the step uncacheable for this run).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``run``, and ``files`` in ``inputs``.
    """


@hookspec(firstresult=True)
def orch_cache_get(key: str, run: Run, step: Step) -> list[Write] | CachedResult | None:
    """Return the stored result for ``key``, or ``None`` on a miss.

    On a hit the step does not run: the runner merges these writes into the context
    like any step's delta (attributed to the step and the current run), calls the
    handler's ``on_cache_hit`` (which may add writes), calls ``orch_before_step`` and
    ``orch_after_step`` as usual, and the step's JSON line says ``"cache": "hit"``. The
    runner still treats an answer as a miss when a file the step declares is missing,
    when the marker ``.cache/K.done`` of a step with ``cache_key: K`` is gone, or when an
    ``artifact`` of the stored result is gone. The built-in store reads
    ``<state dir>/cache/entries.db``. Stops at the first non-None result. A corrupt
    entry must be a miss (with a warning), never an exception.

    :param key: a fingerprint from ``orch_cache_key``.
    :param run: the run (a planned one for a dry run).
    :param step: the step.
    :return: the writes (``key``, ``value`` and ``who`` are used), or a
        ``CachedResult`` (writes and the extra JSON-line fields, such as ``artifact``,
        that the step reported), or ``None``.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``run`` and ``step``; a ``CachedResult`` may be returned.
    """


@hookspec(firstresult=True)
def orch_cache_put(key: str, delta: list[Write], run: Run, step: Step, result: StepResult) -> bool | None:
    """Store ``delta`` (the writes of a successful step) under ``key``.

    Called after a cacheable step that missed succeeded and its delta was merged
    (its JSON line then says ``"cache": "miss"``); never for a failed step, with
    ``--no-cache``, or when a file the step declares is missing. After a true answer
    the runner writes the marker ``.cache/K.done`` of a step with ``cache_key: K``. The
    built-in store writes one JSON file per key atomically, with the result's extra
    fields. Stops at the first non-None result.

    :param key: a fingerprint from ``orch_cache_key``.
    :param delta: the step's writes.
    :param run: the run.
    :param step: the step.
    :param result: the step's result (``result.extras``: its extra JSON-line fields and,
        when it reported artifacts, ``_orch_artifact_sha256``: each artifact's digest, which
        the runner checks on a hit; store the extras whole and return them from
        ``orch_cache_get``).
    :return: ``True`` once stored.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``run``, ``step`` and ``result``.
    """


@hookspec(firstresult=True)
def orch_merge_context(key: str, current: Any, incoming: Any, strategy: str) -> Any:
    """Return the value of ``key`` when a second step of the run writes it.

    Called only when another step of the same run already wrote ``key``; always with
    the value of the step earlier in the recipe as ``current``, so the result does not
    depend on which step finished first. Stops at the first non-None result (so a
    plugin cannot choose ``null`` as the merged value); when every implementation
    returns None, the merge strategy registered under ``strategy``
    (``orch_register_merge_strategies``) decides. Raise ``ContextConflictError``
    to refuse the write.

    :param key: the context key.
    :param current: the value written by the earlier step.
    :param incoming: the value written by the later step.
    :param strategy: the key's strategy from the recipe's ``merge`` (``last_write_wins``, ``append``
        or a name a plugin understands).

    .. versionadded:: 0.1
    """
