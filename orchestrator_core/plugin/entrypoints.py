"""Finding the ``orchestrator`` entry points of installed distributions, cheaply.

``importlib.metadata`` would do, but importing it costs more than the rest of
``orch``'s start-up together (it brings ``email`` and ``zipfile`` along). Entry
points live in ``<name>-<version>.dist-info/entry_points.txt`` (or ``.egg-info``) in
a ``sys.path`` folder; reading those files directly, in ``sys.path`` order with the
first distribution of a name winning, is the same lookup at a fraction of the cost.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

from orchestrator_core.plugin.scan_cache import ScanCache
from orchestrator_core.records import FrozenRecord

_META_DIR = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+?)(-py[\d.]+)?\.(dist|egg)-info$")


class EntryPoint(FrozenRecord):
    """One ``name = module:attribute`` line of a distribution's entry points."""

    __slots__ = ("name", "value", "distribution", "version")

    def __init__(self, name: str, value: str, distribution: str, version: str):
        self.name = name
        self.value = value
        self.distribution = distribution
        self.version = version

    def load(self) -> Any:
        module_name, _, attribute = self.value.partition(":")
        module = importlib.import_module(module_name.strip())
        for part in filter(None, attribute.strip().split(".")):
            module = getattr(module, part)
        return module


def _parse_groups(text: str) -> dict[str, list[tuple[str, str]]]:
    """Group → its ``(name, value)`` pairs, from the text of an ``entry_points.txt``."""
    groups: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = groups.setdefault(line[1:-1].strip(), [])
        elif current is not None and "=" in line:
            name, _, value = line.partition("=")
            current.append((name.strip(), value.strip()))
    return groups


def _headers(text: str) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from the headers of a ``METADATA`` or ``PKG-INFO`` text."""
    name = version = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
    return name, version


def _metadata(folder: str, match: re.Match, scan: ScanCache) -> tuple[str, str]:
    """Name and version from the METADATA/PKG-INFO headers, else from the folder name."""
    for filename in ("METADATA", "PKG-INFO"):
        headers = scan.read(os.path.join(folder, filename), _headers)
        if headers is not None:
            name, version = headers
            return name or match["name"], version or match["version"]
    return match["name"], match["version"]


def entry_points(group: str) -> list[EntryPoint]:
    """Every entry point of ``group``, from the distributions visible on ``sys.path`` (what their
    files declare is kept between starts: :mod:`~orchestrator_core.plugin.scan_cache`)."""
    scan = ScanCache.open()
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for path in sys.path:
        names = scan.listing(path or ".", _META_DIR.match)
        for entry in names or ():
            match = _META_DIR.match(entry)
            key = match["name"].lower().replace("-", "_").replace(".", "_")
            if key in seen:
                continue
            seen.add(key)
            folder = os.path.join(path or ".", entry)
            groups = scan.read(os.path.join(folder, "entry_points.txt"), _parse_groups)
            pairs = groups.get(group) if isinstance(groups, dict) else None
            if pairs:
                dist, version = _metadata(folder, match, scan)
                found += [EntryPoint(name, value, dist, version) for name, value in pairs]
    scan.save()
    return found
