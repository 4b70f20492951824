"""Numbers for people: short, and never a different number than the value.

A report shows a metric in a table cell, so it must be short, but what it shows must
be the value to the precision shown: ``5e-324`` is not ``0``, ``1e-7`` is not
``0.0000``, and ``1.2345678901234567e+19`` has no digits beyond the 17th to show.
So a float is shown with ``digits`` significant digits (fewer when they are zeros),
in positional notation from ``1e-4`` up to ``1e15`` and in exponent notation beyond;
an integer is shown exactly up to 15 digits, and beyond that in exponent notation
(a 400-digit integer would push a table off the page). :func:`exact_number` gives
every digit, for an HTML ``title`` or any output that keeps full precision.
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


def format_number(value: Any, digits: int = SIGNIFICANT_DIGITS) -> str:
    """``value`` shown with at most ``digits`` significant digits; ``NaN``, ``inf`` and ``-inf`` as such.

    Integers up to 15 digits and integral floats below ``1e15`` are shown whole (every
    digit is the value's), and so are, rounded to a whole number, floats from
    ``10 ** digits`` up to ``1e15``; other values are rounded to ``digits`` significant
    digits. A non-zero value is never shown as zero.
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
    if magnitude < SMALLEST_POSITIONAL or magnitude >= LARGEST_POSITIONAL:
        shortest = Decimal(repr(value))  # 5e-324, not 4.94066e-324, when few digits say it exactly
        return _exponent(shortest if len(shortest.as_tuple().digits) <= digits else Decimal(value), digits)
    if value.is_integer():
        return str(int(value))
    places = max(0, digits - 1 - math.floor(math.log10(magnitude)))
    text = f"{value:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
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


def rounded_digits(value: Any, digits: int = SIGNIFICANT_DIGITS) -> str:
    """Every digit of ``value`` when :func:`format_number` rounds it (for an HTML ``title``), else ``""``."""
    if not is_number(value) or isinstance(value, float) and not math.isfinite(value):
        return ""
    shown = format_number(value, digits)
    same = float(shown) == value if isinstance(value, float) else Decimal(shown) == value
    return "" if same else exact_number(value)


def _exponent(value: Decimal, digits: int) -> str:
    """``1.23457e+19``: ``digits`` significant digits, trailing zeros of the mantissa dropped."""
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{exponent[0]}{exponent[1:].zfill(2)}"  # e-07, as Python writes floats
