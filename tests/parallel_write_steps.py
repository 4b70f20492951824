"""Scriptlets that write one key from steps running side by side (see test_parallel_writes.py).

Each sleeps a little (params ``sleep``) so that the steps finish in a different
order from the recipe's.
"""

from __future__ import annotations

import threading
import time

from orchestrator_core import BaseScriptlet

STATIONS = "geo.stations_v1"
_read_together: dict[int, threading.Barrier] = {}
_barriers_lock = threading.Lock()


def _all_have_read(parties: int) -> None:
    """Wait until ``parties`` steps running on threads of this process have read (params
    ``read_together``): none writes before all have read, however late a thread starts."""
    with _barriers_lock:
        barrier = _read_together.setdefault(parties, threading.Barrier(parties, timeout=30))
    barrier.wait()


class AddStation(BaseScriptlet):
    """Contribute one station to the shared list: ``ctx.append``, no read-modify-write."""

    name = "add_station"
    accumulates = (STATIONS,)
    parallelizable = True

    def run(self, ctx, params):
        time.sleep(params.get("sleep", 0))
        ctx.append(STATIONS, params["station"])


class AddStationByRewrite(BaseScriptlet):
    """The newcomer's version: read the list, add one station, write the list back."""

    name = "add_station_by_rewrite"
    outputs = (STATIONS,)
    parallelizable = True

    def run(self, ctx, params):
        stations = ctx.get(STATIONS, [])
        if params.get("read_together"):
            _all_have_read(params["read_together"])
        time.sleep(params.get("sleep", 0))
        ctx.set(STATIONS, stations + [params["station"]])


class AddStationUndeclared(BaseScriptlet):
    """The same read-modify-write, declaring no outputs (so only the run can catch the conflict)."""

    name = "add_station_undeclared"
    parallelizable = True

    def run(self, ctx, params):
        stations = ctx.get(STATIONS, [])
        time.sleep(params.get("sleep", 0))
        ctx.set(STATIONS, stations + [params["station"]])


class Describe(BaseScriptlet):
    """Write ``geo.summary_v1`` from params ``text`` (v1 and v2 steps refine one key in order)."""

    name = "describe"
    outputs = ("geo.summary_v1",)

    def run(self, ctx, params):
        ctx.set("geo.summary_v1", params["text"])
