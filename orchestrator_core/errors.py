"""Exceptions of the framework, and the structured error record of a failed step.

Errors are data (DESIGN §3.6): each exception here knows how to describe itself
to a user in one or a few lines, and a failed step becomes the guide's error JSON
through :func:`error_record`, whatever raised it.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from orchestrator_core.records import FrozenRecord

if TYPE_CHECKING:
    from orchestrator_core.model import RunResult


class OrchError(Exception):
    """Base class of every error the framework raises on purpose."""

    exit_code = 1


class UsageError(OrchError):
    """The command is wrong (unknown step in ``--only``, unknown executor...): nothing ran."""

    exit_code = 2


class Problem(FrozenRecord):
    """One thing wrong with a recipe, located in its file."""

    __slots__ = ("message", "file", "line")

    def __init__(self, message: str, file: str = "<recipe>", line: int | None = None):
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class RecipeError(OrchError):
    """A recipe cannot be run; carries every problem found, each with file and line."""

    exit_code = 2

    def __init__(self, problems: list[Problem], partial: Any = None):
        self.problems = list(problems)
        # The recipe as far as it could be read despite the problems, so the checks that need the
        # installed plugins can still run and every problem is reported in one pass.
        self.partial = partial
        super().__init__("\n".join(folded(self.problems)))


def folded(problems: list[Problem]) -> list[str]:
    """One line per problem, except that a message repeated at several lines of one file is
    written once, followed by where else it is: a module that 100 steps cannot import is one
    thing to fix, not 100 lines to read."""
    at: dict[tuple[str, str], list[Problem]] = {}
    for problem in problems:
        at.setdefault((problem.file, problem.message), []).append(problem)
    lines = []
    for (file, _), same in at.items():
        lines.append(str(same[0]))
        others = sorted({p.line for p in same[1:] if p.line and p.line != same[0].line})
        if others:
            where = "line " if len(others) == 1 else f"{len(others)} more lines: "
            lines.append(f"{file}: the same at {where}{line_ranges(others)}")
    return lines


def line_ranges(lines: list[int], most: int = 8) -> str:
    """``4-102``, ``3, 7, 9-12``: sorted line numbers with runs written as ranges, at most ``most`` of them."""
    runs: list[list[int]] = []
    for line in lines:
        if runs and line == runs[-1][1] + 1:
            runs[-1][1] = line
        else:
            runs.append([line, line])
    shown = [str(a) if a == b else f"{a}-{b}" for a, b in runs[:most]]
    return ", ".join(shown) + (", ..." if len(runs) > most else "")


class PluginError(OrchError):
    """A plugin provides something the framework cannot accept (bad class, duplicate name)."""


class ContextError(OrchError, ValueError):
    """A step tried to write something the context refuses."""


class ContextConflictError(ContextError):
    """Two writes of one key in a run would lose one (steps no dependency orders, or ``fail_on_conflict``)."""


class ScriptletError(OrchError):
    """Raised by a scriptlet to fail its step with a reason the user can act on.

    ``details`` is any JSON-safe mapping that helps (``{"count": 3}``); ``exit_code``
    is the code the step reports (1 unless the scriptlet has a reason to differ);
    ``error_type`` is an optional machine-readable class of the failure (``"timeout"``).
    """

    def __init__(self, reason: str, *, details: dict[str, Any] | None = None, exit_code: int = 1,
                 error_type: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.details = dict(details or {})
        self.exit_code = exit_code
        self.error_type = error_type


class StepFailedError(OrchError, RuntimeError):
    """A run ended because a step failed; ``result`` holds the whole run's result.

    A ``RuntimeError`` so that code written against the guide (§19, "expect
    RuntimeError on failure steps") keeps working.
    """

    def __init__(self, result: RunResult):
        self.result = result
        failed = [r for r in result.steps.values() if r.status == "error"]
        first = failed[0].error if failed else {}
        self.step = first.get("step")
        self.error = first
        if not failed and getattr(result, "reason", None):  # every step ok, an output not written
            super().__init__(f"the run failed: {result.reason}")
            return
        super().__init__(f"step {self.step!r} failed: {first.get('reason', 'unknown error')}")


class OutputError(OrchError):
    """An output the command was asked for (its stdout, ``--events FILE``) could not be written.

    A full disk or a device error, not a reader that went away (a closed pipe is the
    reader's choice, and the command goes on without it). Exit status 1: the command
    did not do all it was asked.
    """

    @classmethod
    def writing(cls, what: str, exc: OSError) -> OutputError:
        """``cannot write to WHAT: No space left on device``."""
        return cls(f"cannot write to {what}: {exc.strerror or exc}")


class RunStopped(OrchError):
    """The run started but could not go on (a plugin or an executor refused mid-run); recorded as ``error``."""

    exit_code = 1


class RunInterrupted(OrchError):
    """The run was stopped by the user (Ctrl-C or SIGTERM); running steps were cancelled."""

    exit_code = 130

    def __init__(self, result: RunResult):
        self.result = result
        super().__init__("run interrupted")


def utc_timestamp(when: float | None = None) -> str:
    """Now (or ``when``, seconds since the epoch) in the guide's ISO-8601 UTC form (``2025-09-07T12:10:00Z``)."""
    now = _dt.datetime.now(_dt.timezone.utc) if when is None else _dt.datetime.fromtimestamp(when, _dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def error_record(
    step: str, reason: str, *, details: dict[str, Any] | None = None, exit_code: int = 1,
    error_type: str | None = None,
) -> dict[str, Any]:
    """Build the guide's error JSON (§9) for ``step``; ``error_type`` is added only when given."""
    record: dict[str, Any] = {"status": "error"}
    if error_type:
        record["error_type"] = error_type
    record.update({
        "reason": reason,
        "details": _plain_details(details or {}),
        "exit_code": exit_code,
        "step": step,
        "ts": utc_timestamp(),
    })
    return record


def _plain_details(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` with every value JSON cannot hold (NaN, an object, a huge integer) replaced by text.

    An error record is printed, recorded and sent between processes as JSON: what a
    scriptlet put in its details must never make the record itself fail.
    """
    import json

    try:
        json.dumps(details, allow_nan=False)
        return dict(details)
    except (TypeError, ValueError):
        pass
    plain = {}
    for key, value in details.items():
        try:
            json.dumps(value, allow_nan=False)
            plain[str(key)] = value
        except (TypeError, ValueError):
            try:
                plain[str(key)] = repr(value)[:200]
            except ValueError:  # an integer too long to print
                plain[str(key)] = f"<{type(value).__name__} that JSON cannot hold>"
    return plain


def error_from_exception(step: str, exc: BaseException) -> dict[str, Any]:
    """Describe any exception raised by a step as the guide's error JSON."""
    if isinstance(exc, ScriptletError):
        return error_record(step, exc.reason, details=exc.details, exit_code=exc.exit_code,
                            error_type=exc.error_type)
    if isinstance(exc, ContextError):
        return error_record(step, str(exc), details={"type": type(exc).__name__})
    details = {"type": type(exc).__name__}
    return error_record(step, str(exc) or type(exc).__name__, details=details)


def did_you_mean(name: str, choices: list[str] | set[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
