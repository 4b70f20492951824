"""One way to show a duration, for the terminal, the reports and the dashboard.

A run shows many durations side by side (each step's, the run's); they only compare
at a glance when they all follow the same rule, so every place that shows one calls
:func:`format_duration` (the dashboard's ``formatDuration`` in ``dashboard.js``
mirrors it, and a test checks that the two agree):

==================  ===============
milliseconds        shown as
==================  ===============
unknown             ``-``
below 10            ``4.2 ms``
below 1 000         ``420 ms``
below 60 000        ``4.20 s``
below 3 600 000     ``4 min 05 s``
above               ``2 h 05 min``
==================  ===============
"""

from __future__ import annotations

from typing import Any


def format_duration(ms: Any) -> str:
    """``ms`` milliseconds for people (see the table above); ``-`` when it is not a number."""
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or ms != ms:
        return "-"
    ms = max(float(ms), 0.0)
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    seconds = int(ms // 1000)
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    minutes = seconds // 60
    return f"{minutes // 60} h {minutes % 60:02d} min"
