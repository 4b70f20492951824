"""The shared context: JSON-safe values with a history of who wrote what.

Two objects: :class:`Context` is a run's context (values, history, merging of
step deltas in recipe order); :class:`StepContext` is what one step sees, a read
view over a context that records the step's writes as a delta instead of applying
them (DESIGN §3.1). The runner alone applies deltas.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from orchestrator_core.errors import ContextConflictError, ContextError, utc_timestamp
from orchestrator_core.run.write_ops import MISSING, KeyWrites, applied, combined, saved_state
from orchestrator_core.model import RESERVED_PREFIX, Write
from orchestrator_core.surrogates import is_utf8

__all__ = ["RESERVED_PREFIX", "Context", "StepContext", "json_safe"]

MergeFunction = Callable[[str, Any, Any], Any]
Mergeable = Callable[[str, str, str], bool]


def json_safe(key: str, value: Any, *, step: str | None = None) -> Any:
    """Return ``value`` as it reads back from JSON, or raise a :class:`ContextError`.

    Normalising on write (tuples become lists, NaN is refused) means a step reads
    back exactly what another process, the state store or a report will see.
    """
    if not isinstance(key, str) or not key:
        raise ContextError(f"context keys must be non-empty strings, got {key!r}")
    if not is_utf8(key):
        raise ContextError(f"context key {key!r} is not UTF-8 text (a name in another encoding?), so the state "
                           "store cannot keep it; such a name may be a value, not a key")
    if value is None or isinstance(value, (bool, str)) or (isinstance(value, int) and value.bit_length() < 10_000):
        return value  # a longer integer may be more digits than JSON text can take: json.dumps decides
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: nested too deeply to encode
        where = f" by step {step!r}" if step else ""
        raise ContextError(
            f"value for key {key!r} written{where} is not JSON-safe "
            f"({type(value).__name__}: {exc}); store a path, a string or plain data instead"
        ) from None


def _copy(value: Any) -> Any:
    return copy.deepcopy(value) if isinstance(value, (dict, list)) else value


class Context:
    """A run's context: key → value, plus every write to each key.

    Usable on its own, as in the guide (``ExampleStep().run(Context(), params)``):
    ``set`` then records the write directly.
    """

    def __init__(
        self,
        initial: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        data_dir: str | Path = "Data",
        workdir: str | Path | None = None,
    ):
        self.run_id = run_id
        self.data_dir = Path(data_dir)
        self.workdir = Path(workdir) if workdir else Path.cwd()
        self._values: dict[str, Any] = {}
        self._history: dict[str, list[Write]] = {}
        # key -> writes made by steps of this run: (recipe position, step, op, payload) each
        self._run_writes: dict[str, KeyWrites] = {}
        self._lock = threading.Lock()
        for key, value in (initial or {}).items():
            self.set(key, value, who="initial")

    # -- reading ---------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        return _copy(self._values.get(key, default))

    def __getitem__(self, key: str) -> Any:
        return _copy(self._values[key])

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._values)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the current values, safe to mutate or serialise.

        Values are JSON-safe by construction, and a JSON round trip copies them several
        times faster than ``copy.deepcopy``.
        """
        return json.loads(json.dumps(self._values))

    def history(self, key: str) -> list[dict[str, Any]]:
        """Every write to ``key`` in order: value, who, step, run and time."""
        return [w.to_dict() for w in self._history.get(key, [])]

    # -- writing ---------------------------------------------------------------------------
    def set(self, key: str, value: Any, who: str = "user", *, step: str | None = None) -> None:
        """Write ``key`` directly (outside a run step), recording who wrote it."""
        value = json_safe(key, value, step=step)
        self.record(Write(key, value, who, step, self.run_id, utc_timestamp()))

    def record(self, write: Write, *, value: Any = ...) -> None:
        """Store ``write`` in the history and make ``value`` (default: its value) current."""
        with self._lock:
            self._values[write.key] = write.value if value is ... else value
            self._history.setdefault(write.key, []).append(write)

    def runner_value(self, key: str) -> Any:
        """A runner-owned key's value as stored, not copied (``get`` copies it deeply: a resumed
        run's metrics key, every step's figures, took ~6 ms); the runner copies what it changes."""
        return self._values.get(key)

    def replace_runner_value(self, key: str, value: Any) -> None:
        """Make ``value`` the runner-owned key's value; the runner updates it in place."""
        self._values[key] = value

    def record_runner_value(self, key: str) -> None:
        """Give a runner-owned key one history entry with its final value (at the end of a run)."""
        if key in self._values:
            self.record(Write(key, self._values[key], "_runner", None, self.run_id, utc_timestamp()))

    def append(self, key: str, item: Any, who: str = "user") -> None:
        """Add ``item`` to the list at ``key`` (created when missing), recording the contribution."""
        self._accumulate(key, "append", item, who)

    def update(self, key: str, mapping: Mapping[str, Any], who: str = "user") -> None:
        """Merge ``mapping`` into the mapping at ``key`` (created when missing), recording it."""
        self._accumulate(key, "update", mapping, who)

    def _accumulate(self, key: str, op: str, value: Any, who: str) -> None:
        value = json_safe(key, value)
        current = self._values.get(key, MISSING)
        self.record(Write(key, value, who, None, self.run_id, utc_timestamp(), op),
                    value=applied(key, current, op, [value] if op == "append" else value))

    def apply(
        self, delta: list[Write], *, position: int, merge: MergeFunction, mergeable: Mergeable | None = None,
    ) -> None:
        """Apply one step's delta as if steps had finished in recipe order.

        ``position`` is the step's place in the recipe. When a key was already
        written in this run by another step, ``merge(key, current, incoming)``
        decides the value of a plain write (``set``), always called with the earlier
        step's value as ``current``, so the result does not depend on which step
        finished first. Accumulating writes (``append``, ``update``) are folded in
        recipe order, so every contribution is kept.

        ``mergeable(key, earlier_step, later_step)`` says whether two steps' writes
        of ``key`` may be folded at all: false for steps no dependency orders and no
        strategy declared for the key, and then a plain write of either is a
        :class:`ContextConflictError` naming both steps (two accumulating writes
        never conflict). Without it every pair may be folded (a context used on its own).
        Nothing is applied when any key fails to merge.
        """
        if not delta:
            return  # a step that wrote nothing (most steps of a long chain)
        by_key: dict[str, list[Write]] = {}
        for write in delta:
            by_key.setdefault(write.key, []).append(write)
        # What to restore if a key fails to merge: each key's state, its number of writes and chain flag
        # (the usual path appends to the list; the rare one replaces it).
        saved = {key: saved_state(self._run_writes.get(key)) for key in by_key}
        try:
            merged = {key: self._merged_value(key, position, writes, merge, mergeable)
                      for key, writes in by_key.items()}
        except ContextError:
            for key, before in saved.items():
                if before is None:
                    self._run_writes.pop(key, None)
                else:
                    state, entries, length, chain = before
                    del entries[length:]
                    state.entries, state.chain = entries, chain
            raise
        for write in delta:
            if by_key[write.key][-1] is write:
                self.record(write, value=merged[write.key])
            else:
                with self._lock:
                    self._history.setdefault(write.key, []).append(write)

    def _merged_value(
        self, key: str, position: int, writes: list[Write], merge: MergeFunction, mergeable: Mergeable | None,
    ) -> Any:
        step = writes[-1].step or ""
        incoming = (position, step, *combined(key, writes))
        state = self._run_writes.get(key)
        if state is None:
            before = self._carried_writer(key) if key in self._history else None
            state = self._run_writes[key] = KeyWrites(self._values.get(key, MISSING), [incoming], before)
            return self._fold(merge, key, state.before, state.base, incoming)
        last = state.entries[-1]
        if (state.chain and last[0] < position and last[1] != step
                and (mergeable is None or mergeable(key, last[1], step))):
            # The usual case, finished in recipe order after a step it depends on: one fold, O(1).
            value = self._fold(merge, key, last, self._values.get(key, MISSING), incoming)
            state.entries.append(incoming)
            return value
        others = [e for e in state.entries if e[1] != step]
        for entry in others:
            first, second = (entry, incoming) if entry[0] < position else (incoming, entry)
            if mergeable is not None and not mergeable(key, first[1], second[1]):
                if "set" in (first[2], second[2]):
                    raise ContextConflictError(
                        f"steps {first[1]!r} and {second[1]!r} both wrote {key!r} and neither depends on the "
                        "other, so one write would be lost; order them with depends_on, accumulate with "
                        "ctx.append/ctx.update, or give the key a strategy (merge: {keys: {"
                        f"{key!r}: ...}}}})"
                    )
                state.chain = False  # accumulating writes side by side: later writes check every pair
        # Finished out of recipe order (or the same step again): refold every write in order.
        ordered = sorted(others + [incoming], key=lambda e: e[0])
        value, previous = state.base, state.before
        for entry in ordered:
            value, previous = self._fold(merge, key, previous, value, entry), entry
        state.entries = ordered
        return value

    def _carried_writer(self, key: str) -> tuple | None:
        """An entry for the steps of an earlier run whose write ``key`` holds (carried over into a
        resumed run, or their merged value), else ``None``: a value from the recipe, ``--set`` or
        this run is replaced by a step's plain write, a step's output is merged with it."""
        history = self._history.get(key)
        if not history:
            return None
        last = history[-1]
        if last.run is None or last.run == self.run_id or (last.step is None and last.who != "merge"):
            return None
        step = next((w.step for w in reversed(history) if w.step), None) or ""
        return (-1, step, last.op, last.value)

    @staticmethod
    def _fold(merge: MergeFunction, key: str, previous: tuple | None, current: Any, entry: tuple) -> Any:
        """``current`` after ``entry`` (position, step, op, payload); ``previous`` is the entry before it."""
        if entry[2] != "set":
            return applied(key, current, entry[2], entry[3], step=entry[1])
        if previous is None:
            return entry[3]
        try:
            return merge(key, current, entry[3])
        except ContextConflictError as exc:
            raise ContextConflictError(
                f"{exc} (steps {previous[1]!r} and {entry[1]!r} both wrote it)"
            ) from None


class StepContext:
    """What a step sees: reads go to the run's context, writes become the step's delta.

    ``outputs`` are the keys the step declared (``None``: not declared, any key);
    writing any other key is an error, as is writing a runner-owned ``_runner.*``
    key, or ``set``-ting a key the step may only accumulate (``accumulates``).
    """

    def __init__(
        self,
        base: Mapping[str, Any] | Context,
        *,
        step: str,
        who: str,
        run_id: str | None = None,
        outputs: frozenset[str] | None = None,
        data_dir: str | Path = "Data",
        workdir: str | Path | None = None,
        cancel_event: threading.Event | None = None,
        accumulates: frozenset[str] = frozenset(),
    ):
        self._base = base
        self.accumulates = accumulates
        self._own: dict[str, Any] = {}
        self.delta: list[Write] = []
        self.step = step
        self.who = who
        self.run_id = run_id
        self.outputs = outputs
        self._data_dir = data_dir
        self._workdir = workdir
        self._cancel_event = cancel_event
        self.metrics: dict[str, Any] = {}  # extra figures a handler reports (a child's CPU...)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._own:
            return _copy(self._own[key])
        return _copy(self._base.get(key, default))

    def __getitem__(self, key: str) -> Any:
        if key not in self:
            raise KeyError(key)
        return self.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._own or key in self._base

    def keys(self) -> list[str]:
        return list(dict.fromkeys([*self._base.keys(), *self._own]))

    def to_dict(self) -> dict[str, Any]:
        base = self._base.to_dict() if hasattr(self._base, "to_dict") else copy.deepcopy(dict(self._base))
        base.update(copy.deepcopy(self._own))
        return base

    def history(self, key: str) -> list[dict[str, Any]]:
        base = self._base.history(key) if hasattr(self._base, "history") else []
        return base + [w.to_dict() for w in self.delta if w.key == key]

    def set(self, key: str, value: Any, who: str | None = None) -> None:
        """Record a write of ``key``; it reaches the run's context when the step succeeds.

        ``who`` is accepted for scriptlets written as in the guide (``who="my_step"``);
        the write is attributed to the step's scriptlet whatever it says.
        """
        self._check_writable(key)
        if key in self.accumulates:
            raise ContextError(f"step {self.step!r} may only accumulate {key!r} (ctx.append/ctx.update): "
                               "its scriptlet lists it in 'accumulates', so steps side by side can share it")
        value = json_safe(key, value, step=self.step)
        self._own[key] = value
        self.delta.append(Write(key, value, self.who, self.step, self.run_id, utc_timestamp()))

    def append(self, key: str, item: Any) -> None:
        """Contribute ``item`` to the list at ``key``, without reading and rewriting the list.

        Steps running side by side may each append to one key: every item reaches the
        context, in recipe order, whichever step finished first.
        """
        self._accumulate(key, "append", item)

    def update(self, key: str, mapping: Mapping[str, Any]) -> None:
        """Contribute ``mapping``'s entries to the mapping at ``key`` (like ``append`` for a dict)."""
        self._accumulate(key, "update", mapping)

    def _accumulate(self, key: str, op: str, value: Any) -> None:
        self._check_writable(key)
        value = json_safe(key, value, step=self.step)
        current = self._own[key] if key in self._own else self._base.get(key, MISSING)
        self._own[key] = applied(key, current, op, [value] if op == "append" else value, step=self.step)
        self.delta.append(Write(key, value, self.who, self.step, self.run_id, utc_timestamp(), op))

    def _check_writable(self, key: str) -> None:
        if isinstance(key, str) and key.startswith(RESERVED_PREFIX):
            raise ContextError(f"step {self.step!r} may not write {key!r}: '_runner.*' keys belong to the runner")
        if self.outputs is not None and key not in self.outputs:
            declared = ", ".join(sorted(self.outputs)) or "none"
            raise ContextError(
                f"step {self.step!r} wrote undeclared key {key!r} (declared outputs: {declared}); "
                "add it to the scriptlet's outputs, or write a new versioned key"
            )

    @property
    def data_dir(self) -> Path:
        """Where artifacts go (``Data/`` under the working directory unless configured)."""
        return Path(self._data_dir)

    @property
    def workdir(self) -> Path:
        return Path(self._workdir) if self._workdir else Path.cwd()

    def artifact_path(self, name: str) -> Path:
        """Path of an artifact ``name`` under the data directory (created if missing)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir / name

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the working directory when it lies under it (for context values)."""
        path = Path(path)
        try:
            return str(path.resolve().relative_to(self.workdir.resolve()))
        except ValueError:
            return str(path)

    @property
    def cancelled(self) -> bool:
        """True once the runner has asked this step to stop (timeout, Ctrl-C)."""
        return self._cancel_event is not None and self._cancel_event.is_set()
