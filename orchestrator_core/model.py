"""Plain data of the framework: recipes, steps, writes, tasks and results.

Everything here is a dataclass with no behaviour beyond describing itself, so that
tasks and results can cross a process boundary (pickle) and reach a Dask worker
unchanged (DESIGN §3.1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_INTERRUPTED = "interrupted"  # a run's status only: Ctrl-C or SIGTERM stopped it

RESERVED_PREFIX = "_runner."
"""Context keys the runner keeps for itself: no step, recipe, ``--set`` or client may write them."""

METRICS_KEY = RESERVED_PREFIX + "step_metrics_v1"
"""The context key where the runner keeps each step's figures (duration, executor, attempts, cache), in plan order."""

# What ``json.dumps(line, separators=(",", ":"))`` builds for every call, made once (a line per step)
_LINE_ENCODER = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True)
class Step:
    """One step of a recipe, as written (after defaults are filled in)."""

    name: str
    index: int
    type: str = "python"
    uses: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    parallelizable: bool | None = None
    executor: str | None = None
    cache: bool = False
    cache_key: str | None = None
    files: tuple[str, ...] = ()
    timeout: float | None = None
    retries: int = 0
    retry_delay: float = 0.5
    description: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    line: int | None = None
    lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    def line_of(self, key: str) -> int | None:
        """Line of ``key`` in this step's mapping, or of the step itself."""
        return self.lines.get(key, self.line)


@dataclass(frozen=True)
class Recipe:
    """A validated recipe: its steps in file order and the run-wide settings."""

    name: str
    steps: tuple[Step, ...]
    path: str | None = None
    description: str | None = None
    merge: str | None = None  # the recipe's strategy for every key; None: the strategy registered as the default
    context: Mapping[str, Any] = field(default_factory=dict)
    digest: str = ""
    # ``merge: {default: ..., keys: {key: strategy}}``: how each named key merges, whichever steps write it
    merge_keys: Mapping[str, str] = field(default_factory=dict)
    merge_lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]


@dataclass(frozen=True)
class Write:
    """One write to a context key: the value and who made it, in which step and run.

    ``op`` says how the value combines with the key's current one: ``set`` replaces
    it; ``append`` adds ``value`` as one item of a list; ``update`` merges ``value``
    (a mapping) into a mapping. Accumulating writes from steps that run side by side
    all reach the context, folded in recipe order (``Context.apply``).
    """

    key: str
    value: Any
    who: str
    step: str | None = None
    run: str | None = None
    ts: str = ""
    op: str = "set"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "who": self.who,
            "step": self.step,
            "run": self.run,
            "ts": self.ts,
            "op": self.op,
        }


class StepHandler(Protocol):
    """What a step type prepares for one step: picklable, self-contained, runnable anywhere."""

    identity: str
    who: str  # what the step's writes are attributed to: the scriptlet's (or script's) name
    outputs: frozenset[str] | None
    inputs: tuple[str, ...] | None
    parallelizable: bool
    requires_process: bool

    def execute(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any] | None: ...


@dataclass
class StepTask:
    """Everything one attempt of one step needs; nothing else is looked up where it runs."""

    step: str
    run_id: str
    handler: StepHandler
    params: dict[str, Any]
    context: Mapping[str, Any]
    workdir: str
    data_dir: str
    attempt: int = 1
    timeout: float | None = None

    def detached(self) -> StepTask:
        """Return a copy whose context is a plain dict, for executors in another process.

        Only the keys the handler declares as ``inputs`` travel when it declares them.
        """
        source = self.context
        wanted = self.handler.inputs
        if wanted is None:
            snapshot = dict(source.to_dict() if hasattr(source, "to_dict") else source)
        else:
            snapshot = {k: source.get(k) for k in wanted if k in source}
        return StepTask(
            self.step, self.run_id, self.handler, self.params, snapshot,
            self.workdir, self.data_dir, self.attempt, self.timeout,
        )


@dataclass(frozen=True)
class Fingerprint:
    """The cache fingerprint of one step: its key and the inputs it was made from.

    The runner puts it on the :class:`StepResult` of a cacheable step, so whoever records
    results (the state store) keeps the inputs ``orch why`` compares against.
    """

    key: str
    inputs: Mapping[str, Any]


@dataclass
class CachedResult:
    """What a cache answers on a hit: the stored writes and the extra JSON-line fields
    (``artifact``...) the step reported when it ran."""

    writes: list[Write]
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepResult:
    """What one step did: the keys it wrote (its delta), extra fields, metrics or the error."""

    step: str
    status: str
    delta: list[Write] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    cache: str | None = None
    attempts: int = 1
    executor: str | None = None
    fingerprint: Fingerprint | None = None

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    @property
    def outputs(self) -> list[str]:
        """Keys the step wrote, each once, in the order of their first write."""
        if not self.delta:
            return []
        return list(dict.fromkeys(w.key for w in self.delta))

    def line(self) -> dict[str, Any]:
        """The step's one JSON status line (guide §9), built from what it actually did."""
        if self.error is not None or not self.ok:  # never an "ok" line for a failed step
            return dict(self.error or {"status": self.status, "step": self.step})
        line: dict[str, Any] = {"status": STATUS_OK, "outputs": self.outputs}
        line.update(self.extras)
        if self.cache is not None:
            line["cache"] = self.cache
        line["step"] = self.step
        if "duration_ms" in self.metrics:
            line["metrics"] = {"duration_ms": self.metrics["duration_ms"]}
        return line

    def json_line(self) -> str:
        """:meth:`line` as the text of the stdout contract: compact JSON and a newline.

        The one place that text is made: ``orch run`` (the ``reporter`` plugin) and
        ``orch step run`` both print this.
        """
        return _LINE_ENCODER.encode(self.line()) + "\n"


@dataclass
class RunResult:
    """The outcome of a run: its status, each step's result (plan order) and the final context."""

    run_id: str
    recipe: str
    status: str
    steps: dict[str, StepResult]
    context: dict[str, Any]
    not_run: list[str] = field(default_factory=list)
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [r.line() for r in self.steps.values()]
