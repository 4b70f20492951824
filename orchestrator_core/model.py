"""Plain data of the framework: recipes, steps, writes, tasks and results.

Everything here is a dataclass with no behaviour beyond describing itself, so that
tasks and results can cross a process boundary (pickle) and reach a Dask worker
unchanged (DESIGN §3.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

STATUS_OK = "ok"
STATUS_ERROR = "error"


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
    merge: str = "last_write_wins"
    context: Mapping[str, Any] = field(default_factory=dict)
    digest: str = ""

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
    """One write to a context key: the value and who made it, in which step and run."""

    key: str
    value: Any
    who: str
    step: str | None = None
    run: str | None = None
    ts: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "who": self.who,
            "step": self.step,
            "run": self.run,
            "ts": self.ts,
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
        return list(dict.fromkeys(w.key for w in self.delta))

    def line(self) -> dict[str, Any]:
        """The step's one JSON status line (guide §9), built from what it actually did."""
        if self.error is not None:
            return dict(self.error)
        line: dict[str, Any] = {"status": STATUS_OK, "outputs": self.outputs}
        line.update(self.extras)
        if self.cache is not None:
            line["cache"] = self.cache
        line["step"] = self.step
        if "duration_ms" in self.metrics:
            line["metrics"] = {"duration_ms": self.metrics["duration_ms"]}
        return line


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
