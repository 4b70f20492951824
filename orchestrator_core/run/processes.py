"""The machine's live processes as ``/proc`` lists them: pid, parent and process group.

Stopping what a run started means finding processes by parent (every descendant of
``orch``) or by group (every member of a script's group). A signal-0 probe cannot do
either, and it counts zombies as alive, so an init that does not reap them would keep
a group "running" for ever; ``/proc`` shows each process's state, parent and group.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

PROC = Path("/proc")


class Process(NamedTuple):
    pid: int
    ppid: int
    pgid: int


def has_process_table() -> bool:
    """Whether this machine has a ``/proc`` to read (Linux); elsewhere callers fall back."""
    return (PROC / "self" / "stat").exists()


def live_processes() -> list[Process]:
    """Every process that is not a zombie (``Z``) or dead (``X``); empty where there is no ``/proc``."""
    if not has_process_table():
        return []
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name (field 2) is in parentheses and may hold spaces: split after it.
            state, ppid, pgid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # the process ended while the table was read
        if state not in ("Z", "X"):
            found.append(Process(int(entry.name), int(ppid), int(pgid)))
    return found
