"""The project's names and version, and the typed hook markers.

One string names the pluggy project, the marker and the entry-point group, so a
plugin author only ever has to learn ``orchestrator``.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import pluggy

__version__ = "0.2.0"

PROJECT_NAME = "orchestrator"
CORE_DISTRIBUTION = "orchestrator-framework"
ENTRY_POINT_GROUP = PROJECT_NAME

_F = TypeVar("_F", bound=Callable[..., object])

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
_hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


def hookimpl(function: _F | None = None, **options: bool) -> _F:  # type: ignore[misc]
    """Mark ``function`` as an implementation of the ``orch_*`` hook of the same name.

    Typed so that the decorated function keeps its own signature for type checkers;
    accepts pluggy's options (``tryfirst``, ``trylast``, ``wrapper``, ``specname``...).
    """
    return _hookimpl(function, **options)  # type: ignore[return-value]
