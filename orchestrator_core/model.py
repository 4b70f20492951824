"""Plain data of the framework: recipes, steps, writes, tasks and results.

Everything here is plain data with no behaviour beyond describing itself, so that
tasks and results can cross a process boundary (pickle) and reach a Dask worker
unchanged (DESIGN §3.1). They are plain classes with the ``__init__``, equality, hash
and ``repr`` a dataclass would have (:mod:`orchestrator_core.records`: a dataclass compiles
its methods at every import).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Protocol

from orchestrator_core.records import FrozenRecord, Record

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_INTERRUPTED = "interrupted"  # a run's status only: Ctrl-C or SIGTERM stopped it

RESERVED_PREFIX = "_runner."
"""Context keys the runner keeps for itself: no step, recipe, ``--set`` or client may write them."""

METRICS_KEY = RESERVED_PREFIX + "step_metrics_v1"
"""The context key where the runner keeps each step's figures (duration, executor, attempts, cache), in plan order."""

# What ``json.dumps(line, separators=(",", ":"))`` builds for every call, made once (a line per step)
_LINE_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _line_encoder() -> Any:
    """``_LINE_ENCODER.encode`` for a line, with its C encoder made once instead of at every call.

    ``JSONEncoder.encode`` makes a C encoder for each call (half the cost of a line), since
    the one it makes keeps the containers being encoded to catch circular references. A
    line's values never hold a cycle (extras and error details went through JSON, a cached
    result's were decoded from it), so this one keeps nothing between calls and serves every
    thread; a cycle would still stop it (``RecursionError`` instead of ``ValueError``). Where
    the C encoder is missing or differs, ``_LINE_ENCODER.encode`` itself.
    """
    from json.encoder import c_make_encoder, encode_basestring_ascii

    encoder = _LINE_ENCODER
    try:
        chunks = c_make_encoder(None, encoder.default, encode_basestring_ascii, None, encoder.key_separator,
                                encoder.item_separator, False, False, True)

        def encode(line: dict[str, Any]) -> str:
            return "".join(chunks(line, 0))

        probe = {"status": "ok", "outputs": ["a", "é\n"], "n": [1, -2.5, 1e300, None, True, False], "m": {}}
        if encode(probe) == encoder.encode(probe):
            return encode
    except Exception:  # noqa: BLE001 - no C encoder (None is not callable), or another signature
        pass
    return encoder.encode


_encode_line = _line_encoder()

# How the line's encoder writes a string and a finite float (json.encoder's own functions):
# the parts of the usual line (StepResult.json_line). None where the encoder is not the C one.
_STRING_TEXT = json.encoder.encode_basestring_ascii
_FLOAT_TEXT = float.__repr__ if _encode_line is not _LINE_ENCODER.encode else None
_FINITE = float("inf")


class Step(FrozenRecord):
    """One step of a recipe, as written (after defaults are filled in). Never changed once made.

    ``lines`` (each key's line in the recipe) is left out of equality and ``repr``.
    """

    __slots__ = ("name", "index", "type", "uses", "params", "depends_on", "parallelizable", "executor", "cache",
                 "cache_key", "files", "timeout", "retries", "retry_delay", "description", "options", "line",
                 "lines")
    _unequal = ("lines",)

    def __init__(self, name: str, index: int, type: str = "python", uses: str | None = None,  # noqa: A002
                 params: Mapping[str, Any] | None = None, depends_on: tuple[str, ...] = (),
                 parallelizable: bool | None = None, executor: str | None = None, cache: bool = False,
                 cache_key: str | None = None, files: tuple[str, ...] = (), timeout: float | None = None,
                 retries: int = 0, retry_delay: float = 0.5, description: str | None = None,
                 options: Mapping[str, Any] | None = None, line: int | None = None,
                 lines: Mapping[str, int] | None = None):
        self.name = name
        self.index = index
        self.type = type
        self.uses = uses
        self.params = {} if params is None else params
        self.depends_on = depends_on
        self.parallelizable = parallelizable
        self.executor = executor
        self.cache = cache
        self.cache_key = cache_key
        self.files = files
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self.description = description
        self.options = {} if options is None else options
        self.line = line
        self.lines = {} if lines is None else lines

    def line_of(self, key: str) -> int | None:
        """Line of ``key`` in this step's mapping, or of the step itself."""
        return self.lines.get(key, self.line)


class Recipe(FrozenRecord):
    """A validated recipe: its steps in file order and the run-wide settings. Never changed once made.

    ``merge_lines`` (the line of each key of ``merge:``) is left out of equality and ``repr``.
    """

    __slots__ = ("name", "steps", "path", "description", "merge", "context", "digest", "merge_keys", "merge_lines")
    _unequal = ("merge_lines",)

    def __init__(self, name: str, steps: tuple[Step, ...], path: str | None = None, description: str | None = None,
                 merge: str | None = None, context: Mapping[str, Any] | None = None, digest: str = "",
                 merge_keys: Mapping[str, str] | None = None, merge_lines: Mapping[str, int] | None = None):
        self.name = name
        self.steps = steps
        self.path = path
        self.description = description
        self.merge = merge  # the recipe's strategy for every key; None: the strategy registered as the default
        self.context = {} if context is None else context
        self.digest = digest
        # ``merge: {default: ..., keys: {key: strategy}}``: how each named key merges, whichever steps write it
        self.merge_keys = {} if merge_keys is None else merge_keys
        self.merge_lines = {} if merge_lines is None else merge_lines

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]


class Write(FrozenRecord):
    """One write to a context key: the value and who made it, in which step and run.

    ``op`` says how the value combines with the key's current one: ``set`` replaces
    it; ``append`` adds ``value`` as one item of a list; ``update`` merges ``value``
    (a mapping) into a mapping. Accumulating writes from steps that run side by side
    all reach the context, folded in recipe order (``Context.apply``). Never changed
    once made.
    """

    __slots__ = ("key", "value", "who", "step", "run", "ts", "op")

    def __init__(self, key: str, value: Any, who: str, step: str | None = None, run: str | None = None,
                 ts: str = "", op: str = "set"):
        self.key = key
        self.value = value
        self.who = who
        self.step = step
        self.run = run
        self.ts = ts
        self.op = op

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


class StepTask(Record):
    """Everything one attempt of one step needs; nothing else is looked up where it runs."""

    __slots__ = ("step", "run_id", "handler", "params", "context", "workdir", "data_dir", "attempt", "timeout")

    def __init__(self, step: str, run_id: str, handler: StepHandler, params: dict[str, Any],
                 context: Mapping[str, Any], workdir: str, data_dir: str, attempt: int = 1,
                 timeout: float | None = None):
        self.step = step
        self.run_id = run_id
        self.handler = handler
        self.params = params
        self.context = context
        self.workdir = workdir
        self.data_dir = data_dir
        self.attempt = attempt
        self.timeout = timeout

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


class Fingerprint(FrozenRecord):
    """The cache fingerprint of one step: its key and the inputs it was made from.

    The runner puts it on the :class:`StepResult` of a cacheable step, so whoever records
    results (the state store) keeps the inputs ``orch why`` compares against.
    """

    __slots__ = ("key", "inputs")

    def __init__(self, key: str, inputs: Mapping[str, Any]):
        self.key = key
        self.inputs = inputs


class CachedResult(Record):
    """What a cache answers on a hit: the stored writes and the extra JSON-line fields
    (``artifact``...) the step reported when it ran."""

    __slots__ = ("writes", "extras")

    def __init__(self, writes: list[Write], extras: dict[str, Any] | None = None):
        self.writes = writes
        self.extras = {} if extras is None else extras


class StepResult(Record):
    """What one step did: the keys it wrote (its delta), extra fields, metrics or the error."""

    __slots__ = ("step", "status", "delta", "extras", "metrics", "error", "cache", "attempts", "executor",
                 "fingerprint")

    def __init__(self, step: str, status: str, delta: list[Write] | None = None, extras: dict[str, Any] | None = None,
                 metrics: dict[str, Any] | None = None, error: dict[str, Any] | None = None, cache: str | None = None,
                 attempts: int = 1, executor: str | None = None, fingerprint: Fingerprint | None = None):
        self.step = step
        self.status = status
        self.delta = [] if delta is None else delta
        self.extras = {} if extras is None else extras
        self.metrics = {} if metrics is None else metrics
        self.error = error
        self.cache = cache
        self.attempts = attempts
        self.executor = executor
        self.fingerprint = fingerprint

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
        ``orch step run`` both print this. The line of a step that ran and succeeded with
        no extra fields (most steps) is put together from its parts, without the dict
        :meth:`line` builds for the encoder: the same text (tests/test_json_line.py), a third of the cost.
        """
        if (self.error is None and self.status == STATUS_OK and not self.extras and self.cache is None
                and _FLOAT_TEXT is not None):
            duration = self.metrics.get("duration_ms")
            if type(duration) is float and -_FINITE < duration < _FINITE:
                outputs = ",".join([_STRING_TEXT(key) for key in self.outputs]) if self.delta else ""
                return (f'{{"status":"ok","outputs":[{outputs}],"step":{_STRING_TEXT(self.step)},'
                        f'"metrics":{{"duration_ms":{_FLOAT_TEXT(duration)}}}}}\n')
        return _encode_line(self.line()) + "\n"


class RunResult(Record):
    """The outcome of a run: its status, each step's result (plan order) and the final context.

    ``reason`` says why the run is not ok when no step's failure does (``Run.reason``).
    """

    __slots__ = ("run_id", "recipe", "status", "steps", "_context", "not_run", "duration_ms", "reason")
    _fields = ("run_id", "recipe", "status", "steps", "context", "not_run", "duration_ms", "reason")

    def __init__(self, run_id: str, recipe: str, status: str, steps: dict[str, StepResult],
                 context: dict[str, Any] | Callable[[], dict[str, Any]], not_run: list[str] | None = None,
                 duration_ms: float = 0.0, reason: str | None = None):
        """``context`` is the final context, or what makes a copy of it when it is first read."""
        self.run_id = run_id
        self.recipe = recipe
        self.status = status
        self.steps = steps
        self._context = context
        self.not_run = [] if not_run is None else not_run
        self.duration_ms = duration_ms
        self.reason = reason

    @property
    def context(self) -> dict[str, Any]:
        """The run's final context, copied when first read: ``orch run`` never reads it, and a
        copy of a long run's context (every step's metrics) costs ~4 us a step."""
        if callable(self._context):
            self._context = self._context()
        return self._context

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        self._context = value

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        return None, {name: getattr(self, name) for name in self._fields}

    def __setstate__(self, state: tuple[None, dict[str, Any]]) -> None:
        for name, value in state[1].items():
            setattr(self, name, value)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [r.line() for r in self.steps.values()]
