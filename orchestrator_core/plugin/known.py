"""Names the project's own plugins provide, and the distribution to install for each.

Used to turn "unknown executor 'dask'" into an instruction the user can follow, and to
say which distribution a plugin name belongs to when two declare it; nothing in the core
depends on these plugins being present.
"""

from __future__ import annotations

import re

PROVIDERS: dict[tuple[str, str], str] = {
    ("executor", "process"): "orchestrator-process",
    ("executor", "dask"): "orchestrator-dask",
    ("step type", "shell"): "orchestrator-shell-steps",
}


def install_hint(kind: str, name: str) -> str:
    """``"; install it with: pip install X"`` when a known distribution provides ``name``."""
    dist = PROVIDERS.get((kind, name))
    return f"; it is provided by {dist}: pip install {dist}" if dist else ""


# The project's plugins whose distribution is not ``orchestrator-<plugin name>`` (that name
# belongs to an unrelated project on PyPI; docs/architecture.md, "Naming rule").
OWNERS: dict[str, str] = {"shell": "orchestrator-shell-steps"}


def owner_of(plugin: str) -> str:
    """The distribution a plugin name belongs to by the naming rule: ``orchestrator-<name>``.

    Two distributions that declare one plugin name are told apart by it (one distribution
    only can have a given name installed), never by the order of folders on disk.
    """
    return OWNERS.get(plugin, f"orchestrator-{plugin}")


def same_distribution(a: str, b: str) -> bool:
    """Whether two spellings name one distribution (``Orch_Weather`` is ``orch-weather``: PEP 503)."""
    return _normal(a) == _normal(b)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
