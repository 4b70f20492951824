"""Values in a recipe that parse but cannot be meant: numbers out of range, data JSON cannot hold.

YAML reads ``.nan``, ``.inf``, ``1e300``, a date or ``!!binary`` without complaint. A
NaN ``retry_delay`` used to make a failed step's retry neither due nor kept (the run
exited 0), an infinite ``timeout`` crashed the run loop, and a Python step took a date
in its params that a shell step (or the state store) could not. Every step type gets
the same rule here: durations are finite and within a year, retry counts are bounded
(and so are worker counts on the command line), params and the initial context are
plain JSON data.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Iterator

MAX_SECONDS = 366 * 24 * 3600  # a timeout or retry delay longer than a year is a mistake
MAX_RETRIES = 1000
MAX_WORKERS = 4096  # steps at once, worker processes: more is a typo, and each may be a process
_KINDS = {"date": "a date", "datetime": "a date and time", "bytes": "binary data (!!binary)", "set": "a set"}
# Python refuses to turn longer integers into text (sys.get_int_max_str_digits), so JSON cannot hold them.
_INT_DIGITS = getattr(sys, "get_int_max_str_digits", lambda: 0)() or 4300


def seconds_problem(key: str, value: int | float) -> str | None:
    """Why ``value`` cannot be the ``key`` duration of a step (a number), or ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{key!r} must be a finite number of seconds, got {value}"
    if value <= 0:
        return f"{key!r} must be greater than 0, got {_short(value)}"
    if value > MAX_SECONDS:
        return f"{key!r} must be at most {MAX_SECONDS} seconds (a year), got {_short(value)}"
    return None


def _short(number: int | float) -> str:
    """``number`` for a message: a huge integer is not spelled out."""
    if isinstance(number, int) and number.bit_length() > 64:
        return "an integer of more than 19 digits"
    return f"{number:g}" if isinstance(number, float) else str(number)


def retries_problem(value: int) -> str | None:
    """Why ``value`` cannot be a step's ``retries``, or ``None``."""
    if value < 0:
        return f"'retries' must be 0 or more, got {value}"
    if value > MAX_RETRIES:
        return f"'retries' must be at most {MAX_RETRIES}, got {_short(value)}"
    return None


def json_problems(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """``(path, why)`` for each part of ``value`` that is not plain JSON data.

    Plain data is what every step type, process and the state store read back alike:
    strings, finite numbers, booleans, null, lists, and mappings with string keys.
    """
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if value.bit_length() > _INT_DIGITS * 3:  # cheap bound first: 3 bits per digit is less than log2(10)
            try:
                str(value)
            except ValueError:
                yield path, f"an integer of more than {_INT_DIGITS} digits is not JSON-safe"
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            yield path, f"{value} is not JSON-safe (use a finite number, or a string)"
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from json_problems(item, path + (i,))
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield path, f"key {key!r} is not a string"
            else:
                yield from json_problems(item, path + (key,))
        return
    what = _KINDS.get(type(value).__name__, f"a {type(value).__name__}")
    yield path, f"{what} is not JSON-safe (write it as a string)"
