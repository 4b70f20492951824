"""Numbers in reports: short, and never a different number than the value.

The property: whatever float or integer a metric holds, what the ``num`` filter
shows parses back to the value within half a unit of its last shown digit, a
non-zero value is never shown as zero, and the text stays short enough for a
table cell. Then the same through the real ``orch run`` and ``orch report``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, localcontext

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from orchestrator_reporting.compare import change_text, compare_metrics, value_text
from orchestrator_reporting.templating import format_number, number_title


def assert_shows(value: float | int, shown: str) -> None:
    """``shown`` is ``value`` to the precision it shows, and a non-zero value is not shown as zero."""
    assert re.fullmatch(r"-?\d+(\.\d+)?(e[+-]\d{2,})?", shown), shown
    with localcontext() as ctx:
        ctx.prec = 1200  # exact: a subnormal float has ~750 significant decimal digits
        unit = Decimal(1).scaleb(Decimal(shown).as_tuple().exponent)
        assert abs(Decimal(shown) - Decimal(value)) <= unit / 2, (value, shown)
    if value != 0:
        assert Decimal(shown) != 0, (value, shown)


@settings(max_examples=400, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
@example(5e-324)
@example(-5e-324)
@example(1e-7)
@example(1.2345678901234567e19)
@example(1e308)
@example(2.2250738585072014e-308)
@example(999999.5)
@example(0.00009999996)
@example(123456789.123)
def test_a_float_is_shown_as_itself_to_the_precision_shown(value):
    shown = format_number(value)
    assert_shows(value, shown)
    assert len(shown) <= 16, shown  # fits a table cell: "-1.23457e-308", "-999999999999999"
    for decimals in (0, 2, 4):
        assert_shows(value, format_number(value, decimals))


@settings(max_examples=300, deadline=None)
@given(st.integers() | st.integers(min_value=-(10 ** 400), max_value=10 ** 400))
@example(10 ** 400)
@example(-(10 ** 30))
@example(10 ** 15 - 1)
@example(10 ** 15)
def test_an_integer_is_exact_up_to_15_digits_then_in_exponent_form(value):
    shown = format_number(value)
    if abs(value) < 10 ** 15:
        assert shown == str(value)
    else:
        assert "e+" in shown and len(shown) <= 13, shown
        assert_shows(value, shown)


@pytest.mark.parametrize("value, shown, title", [
    (5e-324, "5e-324", ""),
    (1e-7, "1e-07", ""),
    (1.2345678901234567e19, "1.23457e+19", "1.2345678901234567e+19"),
    (1e308, "1e+308", ""),
    (10 ** 400, "1e+400", ""),  # exact: nothing more to say
    (10 ** 400 + 1, "1e+400", "1" + "0" * 399 + "1"),
    (123456789012345678901234567890, "1.23457e+29", "123456789012345678901234567890"),
    (3.141592653589793, "3.14159", "3.141592653589793"),
    (2.5, "2.5", ""),
    (4.0, "4", ""),
    (-0.0, "0", ""),
    (float("nan"), "NaN", ""),
    (float("inf"), "inf", ""),
    (float("-inf"), "-inf", ""),
], ids=lambda value: repr(value)[:24])
def test_what_the_filters_show(value, shown, title):
    assert format_number(value) == shown
    assert number_title(value) == title  # every digit, where num rounds


def test_decimals_as_a_template_asks_but_never_zero():
    assert [format_number(1.23456, 2), format_number(1.23456, 4), format_number(2, 2)] == ["1.23", "1.2346", "2"]
    assert format_number(1e-7, 4) == "1e-07" and format_number(0.00007, 4) == "7e-05"
    assert format_number(1e14 + 0.123, 4) == "100000000000000"  # no digit beyond a float's 15
    assert format_number("text") == "text" and format_number(None) == "null" and format_number(True) == "true"


def test_compare_shows_the_same_numbers_and_survives_huge_integers():
    rows = {row.key: row for row in compare_metrics(
        {"metrics.a": 1, "metrics.tiny": 1e-7, "metrics.huge": 10 ** 400},
        {"metrics.a": 10 ** 400, "metrics.tiny": 2e-7, "metrics.huge": 3 * 10 ** 400})}
    assert change_text(rows["metrics.a"]) == "+1e+400" and rows["metrics.a"].percent is None
    assert change_text(rows["metrics.huge"]) == "+2e+400 (+200 %)"
    assert (value_text(rows["metrics.tiny"].a), change_text(rows["metrics.tiny"])) == ("1e-07", "+1e-07 (+100 %)")
    assert math.isclose(rows["metrics.tiny"].delta, 1e-7)
