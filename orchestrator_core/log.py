"""Human-readable logging to stderr (guide §6): stdout belongs to the JSON lines."""

from __future__ import annotations

import logging
import os
import sys

LEVEL_ENV = "ORCH_LOG_LEVEL"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_HANDLER_NAME = "orch-stderr"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time, so captured stderr (tests) works."""

    def __init__(self) -> None:
        super().__init__()
        self.set_name(_HANDLER_NAME)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401 - property
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(level: str | int | None = None) -> None:
    """Send log records to stderr at ``level`` (default: ``$ORCH_LOG_LEVEL`` or WARNING)."""
    chosen = level if level is not None else os.environ.get(LEVEL_ENV, "WARNING")
    if isinstance(chosen, str):
        chosen = logging.getLevelName(chosen.upper())
        if not isinstance(chosen, int):
            raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR")
    root = logging.getLogger()
    if not any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(chosen)


def get_logger(name: str) -> logging.Logger:
    """A logger for scriptlets and plugins; logs go to stderr, never to stdout."""
    root = logging.getLogger()
    if not root.handlers:
        configure_logging()
    return logging.getLogger(name)
