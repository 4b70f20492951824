"""Names the project's own plugins provide, and the distribution to install for each.

Only used to turn "unknown executor 'dask'" into an instruction the user can follow;
nothing in the core depends on these plugins being present.
"""

from __future__ import annotations

PROVIDERS: dict[tuple[str, str], str] = {
    ("executor", "process"): "orchestrator-process",
    ("executor", "dask"): "orchestrator-dask",
    ("step type", "shell"): "orchestrator-shell-steps",
}


def install_hint(kind: str, name: str) -> str:
    """``"; install it with: pip install X"`` when a known distribution provides ``name``."""
    dist = PROVIDERS.get((kind, name))
    return f"; it is provided by {dist}: pip install {dist}" if dist else ""
