"""Base classes of what plugins register besides scriptlets: step types, executors, merge strategies.

Capabilities are declared as data on the class (snakemake's executor interface), so
the engine reads them once instead of asking on every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

if TYPE_CHECKING:
    from concurrent.futures import Future

    from .config import Config
    from .model import Recipe, Step, StepHandler, StepResult, StepTask
    from .registry import Registry


@dataclass(frozen=True)
class StepProblem:
    """A problem a step type found in a step; ``field`` locates it at that key's line."""

    message: str
    field: str | None = None


class StepType:
    """A kind of step (``type:`` in a recipe): checks a step and prepares its handler.

    ``fields`` maps the extra recipe keys this type accepts to their expected Python
    type (or tuple of types); the recipe loader rejects keys no type accepts.
    """

    name: ClassVar[str] = ""
    fields: ClassVar[Mapping[str, Any]] = {}

    def validate(self, step: Step, recipe: Recipe, registry: Registry) -> list[StepProblem]:
        return []

    def prepare(self, step: Step, recipe: Recipe, registry: Registry) -> StepHandler:
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


@dataclass(frozen=True)
class ExecutorCapabilities:
    """What an executor can do.

    ``parallel``: runs several steps at once. ``out_of_process``: steps run in another
    process, so tasks travel detached (a context snapshot). ``can_kill``: a cancelled
    step is really stopped (not just abandoned).
    """

    parallel: bool = False
    out_of_process: bool = False
    can_kill: bool = False


@dataclass(frozen=True)
class ExecutorOption:
    """A command-line option of ``orch run`` that an executor declares (``--process-workers``).

    The value lands in ``config.options[dest]``; ``env`` names an environment variable
    used when the flag is absent.
    """

    flag: str
    dest: str
    help: str
    type: type = str
    default: Any = None
    env: str | None = None


class Executor:
    """Runs step tasks somewhere and hands back futures of their results.

    One instance serves one run: ``start`` before the first submit, ``shutdown`` when
    the run ends (also on failure and Ctrl-C, with ``cancel=True``).
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[ExecutorCapabilities] = ExecutorCapabilities()
    options: ClassVar[tuple[ExecutorOption, ...]] = ()

    def __init__(self, config: Config):
        self.config = config

    def start(self) -> None:
        """Acquire resources (a pool, a cluster client); called once, lazily."""

    def submit(self, task: StepTask) -> Future[StepResult]:
        raise NotImplementedError

    def cancel(self, future: Future[StepResult]) -> None:
        """Stop the step behind ``future`` as well as this executor can (timeout, Ctrl-C)."""
        future.cancel()

    def shutdown(self, *, cancel: bool = False) -> None:
        """Release resources; with ``cancel``, stop running steps instead of waiting."""
