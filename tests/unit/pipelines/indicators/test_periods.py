"""Periods an indicator is computed over: the label and dates of each kind ending on a
day, and the period a stored label names."""
from __future__ import annotations

from datetime import date

import pytest

from cityhub.core.errors import InvalidRequest
from cityhub.pipelines.indicators.periods import PERIOD_KINDS, Period, parse_period, period

DAY = date(2026, 11, 22)


def test_each_kind_ends_on_the_day():
    assert period("day", DAY) == Period("2026-11-22", DAY, DAY)
    assert period("month", DAY) == Period("2026-11", date(2026, 11, 1), DAY)      # month to date
    assert period("year", DAY) == Period("2026", date(2026, 1, 1), DAY)           # year to date
    assert period("now", DAY) == Period("now", DAY, DAY)                          # today so far
    assert [period(k, DAY).label for k in PERIOD_KINDS] == ["2026-11-22", "2026-11", "2026", "now"]


def test_labels_are_zero_padded():
    d = date(2026, 3, 5)
    assert (period("day", d).label, period("month", d).label, period("year", d).label) == ("2026-03-05", "2026-03",
                                                                                            "2026")
    assert period("month", date(2026, 1, 1)) == Period("2026-01", date(2026, 1, 1), date(2026, 1, 1))


def test_an_unknown_kind_is_refused():
    with pytest.raises(InvalidRequest, match="unknown period kind 'week'.*day, month, year, now"):
        period("week", DAY)


@pytest.mark.parametrize("label, start, end", [
    ("2026", date(2026, 1, 1), date(2026, 12, 31)),
    ("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
    ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
    ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),       # a leap year's February
    ("2026-11-22", DAY, DAY),
    ("2024-02-29", date(2024, 2, 29), date(2024, 2, 29)),
])
def test_a_label_names_the_whole_period(label, start, end):
    assert parse_period(label) == Period(label, start, end)


@pytest.mark.parametrize("kind", ["day", "month", "year"])
def test_a_computed_label_parses_back_to_its_period(kind):
    p = period(kind, DAY)
    q = parse_period(p.label)
    assert q.label == p.label and q.start == p.start and q.end >= p.end


@pytest.mark.parametrize("label", [
    "", "now", "abc", "2026-13", "2026-00", "2026-02-30", "2025-02-29", "2026-11-22-01", "2026-11-",
    "2026/11/22", "20261122", "0000",
    # not the forms a stored label has: refused, not read as another period's label
    "2026-1", "26-11", "2026-11-2", " 2026", "2026 ", "+2026", "20_26", "2026-W47-1", "２０２６",
])
def test_a_bad_label_is_refused(label):
    with pytest.raises(InvalidRequest) as e:
        parse_period(label)
    assert "is not YYYY, YYYY-MM or YYYY-MM-DD" in e.value.detail and repr(label) in e.value.detail
