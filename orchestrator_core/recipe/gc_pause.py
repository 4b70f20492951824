"""The cyclic garbage collector held off while a recipe is read, checked and planned.

Reading a 10,000-step recipe allocates hundreds of thousands of small objects (YAML
nodes, dicts, tuples) and frees few of them, which is the pattern that makes the
collector run full passes over an ever larger heap: on such a recipe they took half
of the planning time. These objects form no cycles worth collecting early, so the
collector is paused for the duration and collects as usual afterwards.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collection_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
