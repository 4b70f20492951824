"""The contract of a script's stdout: exactly one JSON status line.

``{"status": "ok", "outputs": [keys], "ctx": {key: value}, "artifact": "path"}`` on
success (``ctx`` and ``artifact`` optional, ``outputs`` naming exactly the keys of
``ctx``), or ``{"status": "error", "reason": "...", "details": {...}, "exit_code": N}``
on failure. Any other field of a success line is passed through to the step's JSON
line, like the extra fields a Python scriptlet returns. Logs belong on stderr: any
other text on stdout breaks the contract, and :class:`ContractViolation` says how.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from orchestrator_core.run.context import RESERVED_PREFIX

# Fields of a success line that the framework writes itself.
RESERVED_FIELDS = frozenset({"step", "metrics", "cache", "reason", "exit_code", "details"})
EXCERPT_LINES = 5
EXCERPT_CHARS = 300


class ContractViolation(Exception):
    """The script's stdout is not one valid status line; ``details`` say what was found."""

    def __init__(self, reason: str, **details: Any):
        super().__init__(reason)
        self.reason = reason
        self.details = details


@dataclass
class StatusLine:
    """A parsed status line."""

    status: str
    outputs: list[str] = field(default_factory=list)
    ctx: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def excerpt(lines: list[str]) -> list[str]:
    """The last few of ``lines``, each cut short, for an error record."""
    return [line if len(line) <= EXCERPT_CHARS else line[:EXCERPT_CHARS] + "…" for line in lines[-EXCERPT_LINES:]]


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (the context holds JSON values only)")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_no_constants)


def _is_json(text: str) -> bool:
    try:
        _loads(text)
    except ValueError:
        return False
    return True


def parse_status_line(stdout: bytes) -> StatusLine:
    """Read the status line from a script's whole stdout; raise :class:`ContractViolation`."""
    try:
        text = stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractViolation(f"stdout is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ContractViolation("the script printed nothing on stdout; it must print one JSON status line "
                                '(like {"status":"ok","outputs":[]})')
    if len(lines) > 1:
        json_lines = sum(_is_json(line) for line in lines)
        if json_lines > 1:
            raise ContractViolation(f"the script printed {json_lines} JSON lines on stdout; it must print exactly "
                                    "one status line (send logs to stderr)", stdout_lines=excerpt(lines))
        raise ContractViolation(f"stdout has {len(lines) - 1} line(s) of text besides the status line; "
                                "send logs to stderr", stdout_lines=excerpt(lines))
    try:
        value = _loads(lines[0])
    except ValueError as exc:
        raise ContractViolation(f"stdout is not a JSON status line: {exc}", stdout_lines=excerpt(lines)) from None
    if not isinstance(value, dict):
        raise ContractViolation(f"the status line must be a JSON object, got {type(value).__name__}",
                                stdout_lines=excerpt(lines))
    status = value.get("status")
    if status == "error":
        return _error_line(value)
    if status != "ok":
        raise ContractViolation(f"the status line needs \"status\": \"ok\" or \"error\", got {status!r}",
                                stdout_lines=excerpt(lines))
    return _ok_line(value)


def _error_line(value: dict[str, Any]) -> StatusLine:
    details = value.get("details")
    exit_code = value.get("exit_code")
    return StatusLine(
        "error",
        reason=str(value.get("reason") or "the script reported an error without a reason"),
        details=details if isinstance(details, dict) else ({} if details is None else {"details": details}),
        exit_code=exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
    )


def _ok_line(value: dict[str, Any]) -> StatusLine:
    outputs = value.get("outputs")
    if not isinstance(outputs, list) or not all(isinstance(k, str) for k in outputs):
        raise ContractViolation("the status line needs \"outputs\": a list of the context keys the script wrote",
                                outputs=outputs)
    ctx = value.get("ctx", {})
    if not isinstance(ctx, dict):
        raise ContractViolation(f"\"ctx\" must be an object of key → value, got {type(ctx).__name__}")
    missing = [key for key in outputs if key not in ctx]
    if missing:
        raise ContractViolation(f"\"outputs\" names keys that are not in \"ctx\": {', '.join(missing)}",
                                outputs=outputs, ctx_keys=sorted(ctx))
    unlisted = [key for key in ctx if key not in outputs]
    if unlisted:
        raise ContractViolation(f"\"ctx\" writes keys that \"outputs\" does not name: {', '.join(unlisted)}",
                                outputs=outputs, ctx_keys=sorted(ctx))
    bad = [key for key in ctx if not key or key.startswith(RESERVED_PREFIX)]
    if bad:
        raise ContractViolation(f"the script may not write {bad[0]!r}: keys are non-empty and '_runner.*' "
                                "keys belong to the runner")
    if "artifact" in value and not isinstance(value["artifact"], str):
        raise ContractViolation("\"artifact\" must be a path (a string)", artifact=value["artifact"])
    clash = sorted(RESERVED_FIELDS.intersection(value))
    if clash:
        raise ContractViolation(f"a success line may not set the framework's fields: {', '.join(clash)}")
    extras = {k: v for k, v in value.items() if k not in ("status", "outputs", "ctx")}
    return StatusLine("ok", outputs=list(dict.fromkeys(outputs)), ctx=ctx, extras=extras)
