"""Numbers for people: short, and never a different number than the value.

A report shows a metric in a table cell, so it must be short, but what it shows must
be the value to the precision shown: ``5e-324`` is not ``0``, ``1e-7`` is not
``0.0000``, and ``1.2345678901234567e+19`` has no digits beyond the 17th to show.
So a float is shown with ``digits`` significant digits (fewer when they are zeros),
in positional notation from ``1e-4`` up to ``1e15`` and in exponent notation beyond;
an integer is shown exactly up to 15 digits, and beyond that in exponent notation
(a 400-digit integer would push a table off the page). A template may ask for at
most N decimals instead (``num(4)``); a value those would show as zero is shown in
exponent notation. :func:`exact_number` gives every digit, for an HTML ``title``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from .metrics import is_number

__all__ = ["exact_number", "format_number", "is_number", "rounded_digits"]

SIGNIFICANT_DIGITS = 6
EXACT_INT_DIGITS = 15  # integers up to this many digits are shown as they are
SMALLEST_POSITIONAL = 1e-4  # below this magnitude, exponent notation (0.0000123 reads badly)
LARGEST_POSITIONAL = 1e15  # from this magnitude, exponent notation (a float has ~16 significant digits)
FLOAT_DIGITS = 15  # the significant digits a float always holds: none beyond them is shown


def format_number(value: Any, digits: int = SIGNIFICANT_DIGITS, *, decimals: int | None = None) -> str:
    """``value`` shown with at most ``digits`` significant digits; ``NaN``, ``inf`` and ``-inf`` as such.

    Integers up to 15 digits and integral floats below ``1e15`` are shown whole (every
    digit is the value's), and so are, rounded to a whole number, floats from
    ``10 ** digits`` up to ``1e15``; other values are rounded to ``digits`` significant
    digits. With ``decimals``, a float is rounded to at most that many decimals
    instead (``num(4)`` in a template), except where that would show it as zero.
    Either way a non-zero value is never shown as zero, and no digit is shown beyond
    the 15 significant digits a float always holds.
    """
    digits = max(1, int(digits))
    if isinstance(value, int):
        if abs(value) < 10 ** EXACT_INT_DIGITS:
            return str(value)
        return _exponent(Decimal(value), digits)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    magnitude = abs(value)
    scale = math.floor(math.log10(magnitude))
    if decimals is None:
        places, tiny = digits - 1 - scale, magnitude < SMALLEST_POSITIONAL
    else:
        places, tiny = max(0, int(decimals)), magnitude < 10.0 ** -max(0, int(decimals))
    if tiny or magnitude >= LARGEST_POSITIONAL:
        return _shortest_exponent(value, digits)
    if value.is_integer():
        return str(int(value))
    text = f"{value:.{max(0, min(places, FLOAT_DIGITS - 1 - scale))}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if float(text) == 0:  # rounded away at the edge: shown with its significant digits instead
        return _shortest_exponent(value, digits)
    return text


def exact_number(value: Any) -> str:
    """Every digit of ``value``: an integer as it is, a float as its shortest exact form (``repr``)."""
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            return _exponent(Decimal(value), 17)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def rounded_digits(value: Any, digits: int = SIGNIFICANT_DIGITS, *, decimals: int | None = None) -> str:
    """Every digit of ``value`` when :func:`format_number` rounds it (for an HTML ``title``), else ``""``."""
    if not is_number(value) or isinstance(value, float) and not math.isfinite(value):
        return ""
    shown = format_number(value, digits, decimals=decimals)
    same = float(shown) == value if isinstance(value, float) else Decimal(shown) == value
    return "" if same else exact_number(value)


def _shortest_exponent(value: float, digits: int) -> str:
    """Exponent notation with at most ``digits`` significant digits: the shortest form that reads back
    as the value when it is that short (``5e-324``, not ``4.94066e-324``), else the value rounded."""
    shortest = Decimal(repr(value))
    return _exponent(shortest if len(shortest.as_tuple().digits) <= digits else Decimal(value), digits)


def _exponent(value: Decimal, digits: int) -> str:
    """``1.23457e+19``: ``digits`` significant digits, trailing zeros of the mantissa dropped."""
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{exponent[0]}{exponent[1:].zfill(2)}"  # e-07, as Python writes floats
