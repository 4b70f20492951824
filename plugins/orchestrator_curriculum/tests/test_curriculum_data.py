"""The shared helpers: reading dirty CSV files, the statistics, and factorisation."""

from __future__ import annotations

import math
import statistics

from pathlib import Path

import pytest

from orchestrator_core import ScriptletError
from orchestrator_curriculum import numbers_io, primes, stats


def test_sample_keeps_clean_rows_and_says_why_it_skipped_the_others(sample_values):
    table = numbers_io.read_numbers(numbers_io.sample_path())
    assert table.columns == ["value", "weight", "score"]
    assert table.data["value"] == sample_values
    assert table.count == len(sample_values) == 18
    assert table.data["score"][3] == 64.0  # " 91.75 ,1.5, 64": stray spaces are tolerated
    assert table.skipped_rows == [
        {"line": 10, "reason": "blank cell in 'weight'"},
        {"line": 12, "reason": "not a number in 'value': 'abc'"},
        {"line": 14, "reason": "repeated header"},
        {"line": 17, "reason": "blank line"},
        {"line": 18, "reason": "not a number in 'score': 'NaN'"},
        {"line": 22, "reason": "expected 3 cells, found 4"},
    ]


def test_only_the_chosen_columns_are_checked(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("name,value\nalpha,1\nbeta,2\n,x\n")
    table = numbers_io.read_numbers(path, ["value"])
    assert table.data == {"value": [1.0, 2.0]}
    assert table.skipped_rows == [{"line": 4, "reason": "not a number in 'value': 'x'"}]


@pytest.mark.parametrize("text, reason", [
    ("", "No header row in bad.csv"),
    ("\n\n", "No header row in bad.csv"),
    ("a,,b\n1,2,3\n", "Header of bad.csv needs unique, non-empty names"),
    ("a,a\n1,2\n", "Header of bad.csv needs unique, non-empty names"),
])
def test_a_file_without_a_usable_header_fails(tmp_path, text, reason):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ScriptletError) as caught:
        numbers_io.read_numbers(path)
    assert caught.value.reason == reason


def test_unknown_column_and_unknown_sample_name_the_choices(tmp_path):
    with pytest.raises(ScriptletError) as caught:
        numbers_io.read_numbers(numbers_io.sample_path(), ["weight", "height"])
    assert caught.value.details == {"columns": ["value", "weight", "score"], "unknown": ["height"]}
    with pytest.raises(ScriptletError) as caught:
        numbers_io.sample_path("../plugin.py")
    assert caught.value.details == {"samples": ["numbers.csv", "numbers_short.csv"]}


def test_source_path_resolves_against_the_working_directory_or_the_data_directory(tmp_path):
    (tmp_path / "mine.csv").write_text("v\n1\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "made.csv").write_text("v\n1\n")
    data_dir = tmp_path / "out"
    assert numbers_io.source_path({"path": "mine.csv"}, tmp_path, data_dir) == tmp_path / "mine.csv"
    assert numbers_io.source_path({"data_file": "made.csv"}, tmp_path, data_dir) == data_dir / "made.csv"
    assert numbers_io.source_path({"data_file": "made.csv"}, tmp_path, Path("out")) == data_dir / "made.csv"
    assert numbers_io.source_path({}, tmp_path, data_dir) == numbers_io.DATA_DIR / "numbers.csv"
    with pytest.raises(ScriptletError) as caught:
        numbers_io.source_path({"path": "gone.csv"}, tmp_path, data_dir)
    assert caught.value.reason == "Numbers file not found: gone.csv"
    assert caught.value.details == {"path": "gone.csv"}
    with pytest.raises(ScriptletError) as caught:
        numbers_io.source_path({"path": "mine.csv", "data_file": "made.csv"}, tmp_path, data_dir)
    assert caught.value.reason == "Give either 'path' or 'data_file', not both"


def test_statistics_agree_with_the_standard_library(sample_values):
    assert stats.number_stats(sample_values) == {
        "count": 18, "sum": sum(sample_values), "min": 8.0, "max": 9973.0,
        "mean": pytest.approx(statistics.mean(sample_values)), "std": pytest.approx(statistics.stdev(sample_values)),
    }
    v2 = stats.summary_v2(sample_values)
    q1, _, q3 = statistics.quantiles(sample_values, n=4, method="inclusive")
    assert v2 == {**stats.summary_v1(sample_values), "median": statistics.median(sample_values),
                  "variance": pytest.approx(statistics.variance(sample_values)), "range": 9965.0,
                  "q1": pytest.approx(q1), "q3": pytest.approx(q3)}
    assert stats.std([4.0]) == 0.0 and stats.variance([4.0]) == 0.0 and stats.quartiles([4.0]) == (4.0, 4.0, 4.0)


def test_min_max_scaling():
    assert stats.min_max_scale([2.0, 4.0, 6.0]) == [0.0, 0.5, 1.0]
    assert stats.min_max_scale([3.0, 3.0]) == [0.0, 0.0]


@pytest.mark.parametrize("n, factors", [
    (0, []), (1, []), (2, [2]), (84, [2, 2, 3, 7]), (1001, [7, 11, 13]), (9973, [9973]), (1024, [2] * 10),
])
def test_factorize(n, factors):
    assert primes.factorize(n) == factors


def test_factorize_range_counts_primes_and_stops_when_asked():
    summary = primes.factorize_range(100, 100)
    expected_primes = sum(1 for n in range(100, 200) if all(n % d for d in range(2, math.isqrt(n) + 1)))
    assert summary == {"start": 100, "count": 100, "done": 100, "primes": expected_primes,
                       "factors": sum(len(primes.factorize(n)) for n in range(100, 200))}
    assert primes.factorize_range(100, 100, stop=lambda: True)["done"] == 0
    with pytest.raises(ValueError):
        primes.factorize(primes.LIMIT + 1)
