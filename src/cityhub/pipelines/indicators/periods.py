"""Periods an indicator is computed over: a day, month to date, year to date, and
"now" (today so far, recomputed whenever data lands)."""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from cityhub.core.errors import InvalidRequest

PERIOD_KINDS = ("day", "month", "year", "now")
_LABEL = re.compile(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?")


@dataclass(frozen=True)
class Period:
    label: str
    """``YYYY-MM-DD``, ``YYYY-MM`` (month to date), ``YYYY`` (year to date) or ``now``."""
    start: date
    end: date


def period(kind: str, day: date) -> Period:
    if kind == "day":
        return Period(day.isoformat(), day, day)
    if kind == "month":
        return Period(f"{day:%Y-%m}", day.replace(day=1), day)
    if kind == "year":
        return Period(f"{day:%Y}", day.replace(month=1, day=1), day)
    if kind == "now":  # today so far: recomputed whenever data lands
        return Period("now", day, day)
    raise InvalidRequest(f"unknown period kind {kind!r} (known: {', '.join(PERIOD_KINDS)})")


def parse_period(label: str) -> Period:
    """The period a label names, ending on its last day (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``)."""
    parts = label.split("-")
    try:
        if not _LABEL.fullmatch(label):  # int() and fromisoformat() take more ("2026-1", " 2026", "2026-W47-1")
            raise ValueError(label)
        if len(parts) == 3:
            d = date.fromisoformat(label)
            return Period(label, d, d)
        if len(parts) == 2:
            y, m = int(parts[0]), int(parts[1])
            return Period(label, date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1]))
        if len(parts) == 1:
            y = int(parts[0])
            return Period(label, date(y, 1, 1), date(y, 12, 31))
    except ValueError:
        pass
    raise InvalidRequest(f"period {label!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
