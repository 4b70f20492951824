"""Base classes of what plugins register besides scriptlets: step types, executors, merge strategies.

Capabilities are declared as data on the class (snakemake's executor interface), so
the engine reads them once instead of asking on every step.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Protocol

from orchestrator_core.records import FrozenRecord

if TYPE_CHECKING:
    from concurrent.futures import Future

    from orchestrator_core.config import Config
    from orchestrator_core.model import Recipe, Step, StepHandler, StepResult, StepTask


class RegistryView(Protocol):
    """What a step type may ask of the registry (:class:`orchestrator_core.plugin.registry.Registry` is one).

    ``get(kind, name).obj`` is the class registered as ``name`` (kinds: ``"scriptlet"``,
    ``"step type"``, ``"executor"``), raising ``UsageError`` with a suggestion when
    there is none; ``names(kind)`` lists them; ``recipe_dirs()`` gives each pack's
    recipe folder with the plugin that ships it (where scripts are found by name), and
    ``home_plugin(recipe_path)`` the plugin whose folder holds a recipe (whose own scripts
    and scriptlets that recipe uses first), or ``None``.
    """

    def get(self, kind: str, name: str) -> Any: ...

    def names(self, kind: str) -> list[str]: ...

    def recipe_dirs(self) -> list[tuple[Path, str]]: ...

    def home_plugin(self, recipe_path: str | Path | None) -> str | None: ...


class StepProblem(FrozenRecord):
    """A problem a step type found in a step; ``field`` locates it at that key's line."""

    __slots__ = ("message", "field")

    def __init__(self, message: str, field: str | None = None):
        self.message = message
        self.field = field


class StepType:
    """A kind of step (``type:`` in a recipe): checks a step and prepares its handler.

    ``fields`` maps the extra recipe keys this type accepts to their expected Python
    type (or tuple of types); the recipe loader rejects keys no type accepts.
    """

    name: ClassVar[str] = ""
    fields: ClassVar[Mapping[str, Any]] = {}

    def validate(self, step: Step, recipe: Recipe, registry: RegistryView) -> list[StepProblem]:
        return []

    def prepare(self, step: Step, recipe: Recipe, registry: RegistryView) -> StepHandler:
        raise NotImplementedError


class MergeStrategy:
    """How a key written by two steps of one run merges (``merge:`` in a recipe names one).

    ``merge(key, current, incoming)`` returns the value the context keeps, always
    called with the earlier step's value (in recipe order) as ``current``; raise
    ``ContextConflictError`` to refuse. ``description`` is one line for listings
    and error messages. ``default``: the strategy of recipes that name none (one
    registered strategy says so; the built-in ``last_write_wins`` does).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default: ClassVar[bool] = False

    def merge(self, key: str, current: Any, incoming: Any) -> Any:
        raise NotImplementedError


class ExecutorCapabilities(FrozenRecord):
    """What an executor can do.

    ``parallel``: runs several steps at once. ``out_of_process``: steps run in another
    process, so tasks travel detached (a context snapshot). ``can_kill``: a cancelled
    step is really stopped (not just abandoned). ``queues_ahead``: takes more steps than it
    runs at once and says when each really starts (:meth:`Executor.submit_queued`), so the
    engine hands it ready steps ahead of its free workers instead of one per free worker.
    """

    __slots__ = ("parallel", "out_of_process", "can_kill", "queues_ahead")

    def __init__(self, parallel: bool = False, out_of_process: bool = False, can_kill: bool = False,
                 queues_ahead: bool = False):
        self.parallel = parallel
        self.out_of_process = out_of_process
        self.can_kill = can_kill
        self.queues_ahead = queues_ahead


class ExecutorOption(FrozenRecord):
    """A command-line option of ``orch run`` that an executor (``Executor.options``) or any
    plugin (a ``run_options`` attribute on the plugin object) declares: ``--process-workers``, ``--serve``.

    The value lands in ``config.options[dest]`` (an absent option without a default
    is left out); ``env`` names an environment variable used when the flag is
    absent; ``is_flag`` makes an on/off switch.
    """

    __slots__ = ("flag", "dest", "help", "type", "default", "env", "is_flag")

    def __init__(self, flag: str, dest: str, help: str, type: type = str, default: Any = None,  # noqa: A002
                 env: str | None = None, is_flag: bool = False):
        self.flag = flag
        self.dest = dest
        self.help = help
        self.type = type
        self.default = default
        self.env = env
        self.is_flag = is_flag


RunOption = ExecutorOption
"""The name to use when the option is not an executor's (the ``run_options`` of a plugin)."""


DEFAULT_SERIAL = "serial"
DEFAULT_PARALLEL = "parallel"
DEFAULT_REQUIRES_PROCESS = "requires_process"
DEFAULT_ROLES = (DEFAULT_SERIAL, DEFAULT_PARALLEL, DEFAULT_REQUIRES_PROCESS)
"""The steps an executor can declare itself the default for (:attr:`Executor.default_for`)."""


class Executor:
    """Runs step tasks somewhere and hands back futures of their results.

    One instance serves one run: ``check`` before the run starts, ``start`` before
    the first submit, ``shutdown`` when the run ends (also on failure and Ctrl-C,
    with ``cancel=True``).

    ``default_for`` names the steps this executor runs when neither the step
    (``executor:``) nor the run (``--executor``) chooses one: ``"serial"`` steps,
    ``"parallel"`` (parallelizable) steps, ``"requires_process"`` steps (scriptlets
    that must run in another process). When several installed executors claim a
    role, the one registered last (an installed plugin over a built-in) gets it.
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[ExecutorCapabilities] = ExecutorCapabilities()
    options: ClassVar[tuple[ExecutorOption, ...]] = ()
    default_for: ClassVar[frozenset[str]] = frozenset()
    planned_steps: int = 0
    """How many steps of the run's plan go to this executor (the runner sets it before
    :meth:`start`; some may still be cache hits): a pool can start that many workers at once."""

    def __init__(self, config: Config):
        self.config = config

    def check(self) -> None:
        """Raise :class:`~orchestrator_core.UsageError` when this executor cannot run with this configuration.

        Called for every executor a run needs before ``orch_run_start``, so a bad
        option (``--process-workers 0``) stops the run before anything ran (exit 2).
        Cheap: acquire nothing here, that is :meth:`start`'s job.
        """

    def start(self) -> None:
        """Acquire resources (a pool, a cluster client); called once, lazily."""

    def submit(self, task: StepTask) -> Future[StepResult]:
        raise NotImplementedError

    def submit_queued(self, task: StepTask, on_start: Callable[[Future[StepResult]], None]) -> Future[StepResult]:
        """Queue ``task`` behind the steps already running (executors whose capabilities say ``queues_ahead``).

        A worker that finishes a step then starts the next queued one at once, without
        waiting for the runner thread to hand it over. The worker calls ``on_start(future)``
        right before the step starts, then starts it only if the future was not cancelled
        meanwhile (``future.set_running_or_notify_cancel()``): ``on_start`` may block (the
        engine holds queued steps back while it decides whether a failure stops the run),
        and it is how the engine learns when a step really started (its timeout counts from
        there; ``orch_before_step`` is called then). A queued step is cancelled with
        ``future.cancel()``, then :meth:`cancel`.
        """
        raise NotImplementedError

    def cancel(self, future: Future[StepResult]) -> None:
        """Stop the step behind ``future`` as well as this executor can (timeout, Ctrl-C)."""
        future.cancel()

    def shutdown(self, *, cancel: bool = False) -> None:
        """Release resources; with ``cancel``, stop running steps instead of waiting."""
