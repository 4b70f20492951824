"""Names a package exports but imports on first use (PEP 562).

The core and the plugins are imported on every ``orch`` start, and so are the
modules worker processes load to run one scriptlet; their public names stay cheap
to reach without importing everything behind them.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_exports(package: str, names: Mapping[str, str], namespace: dict[str, Any],
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: ``names`` maps each exported name to
    the submodule defining it; a name, once imported, is kept in ``namespace`` (the package's
    globals) so the next lookup is an ordinary one."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return list(namespace.get("__all__", sorted(names)))

    return __getattr__, __dir__
