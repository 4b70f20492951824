"""A status line a scriptlet printed itself, adopted into the framework's one line.

Scriptlets written as in the guide (§5) print their own JSON status line
(``{"status": "error", "reason": "Too few numbers (min=5)", ...}``) and return 0
or 1. The framework prints the step's line, so printing both would make two lines
for one step, and dropping the scriptlet's would lose its reason. While a step
runs, what its thread prints to stdout passes through :func:`capture_status_line`:
a line that is a JSON object with a ``status`` of ``ok`` or ``error`` is held back
(the last one, if several), everything else goes where stdout went. The held line's
``reason``, ``details`` and extra fields then go into the step's one line
(:func:`adopt`); the return value still decides the status.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO

from orchestrator_core.errors import error_record

# Fields the framework fills in from what really happened; a printed line cannot set them.
FRAMEWORK_FIELDS = frozenset({"status", "outputs", "step", "metrics", "cache", "exit_code", "ts", "error_type"})


def _status_line(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value.get("status") in ("ok", "error") else None


class _Router:
    """Stands in for ``sys.stdout`` while steps run: a capturing thread's text goes to its capture."""

    def __init__(self, target: TextIO):
        self.target = target
        self.captures: dict[int, capture_status_line] = {}

    def write(self, text: str) -> int:
        capture = self.captures.get(threading.get_ident())
        if capture is None:
            return self.target.write(text)
        capture.feed(text)
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


_lock = threading.Lock()


class capture_status_line:  # noqa: N801 - used like a function: ``with capture_status_line() as printed``
    """Hold back a status line the current thread prints to stdout while the block runs.

    It runs around every step, so it is kept cheap: the stand-in for ``sys.stdout`` is
    installed once and left in place (it passes through what threads that are not
    capturing print, and ``orch run`` restores the real stdout when the run ends), so
    a step only registers its thread with it.
    """

    __slots__ = ("target", "status", "_partial", "_held", "_router")

    def __enter__(self) -> capture_status_line:
        router = sys.stdout
        if type(router) is not _Router:
            with _lock:
                router = sys.stdout
                if type(router) is not _Router:
                    router = sys.stdout = _Router(router)  # type: ignore[assignment]
        self._router = router
        self.target = router.target  # type: ignore[union-attr]
        self.status: dict[str, Any] | None = None
        self._partial = self._held = ""
        router.captures[threading.get_ident()] = self  # type: ignore[union-attr]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._router.captures.pop(threading.get_ident(), None)
        if self._partial:
            self._line(self._partial)

    def release(self) -> None:
        """Pass the held status line on after all (the step failed otherwise: nothing to adopt it into)."""
        if self._held:
            self.target.write(self._held + "\n")
            self._held = ""

    def feed(self, text: str) -> None:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._line(line)

    def _line(self, line: str) -> None:
        parsed = _status_line(line)
        if parsed is None:
            self.target.write(line + "\n")
            return
        if self._held:
            self.target.write(self._held + "\n")  # an earlier status line: only the last is adopted
        self.status, self._held = parsed, line


def adopt(step: str, line: dict[str, Any], *, exit_code: int) -> dict[str, Any]:
    """The fields of ``line`` for the step's own line: an error record when ``exit_code`` is not 0, else extras."""
    extras = {key: value for key, value in line.items() if key not in FRAMEWORK_FIELDS | {"reason", "details"}}
    if not exit_code:
        return extras
    details = line.get("details")
    record = error_record(step, str(line.get("reason") or f"scriptlet returned exit code {exit_code}"),
                          details=details if isinstance(details, dict) else {}, exit_code=exit_code)
    ts = record.pop("ts")
    record.update(extras)
    record["ts"] = ts
    return record
