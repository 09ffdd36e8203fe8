"""Staging casts every value to its field's type and names each value that does not cast,
on its row; a column of few distinct values (a delivery's day, a code) is cast once per
value, with exactly the result of casting each row."""
from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pytest

from cityhub.declarations.contracts import Contract
from cityhub.pipelines.landing import staging

N = 5000


@pytest.fixture(scope="module")
def c() -> Contract:
    return Contract(name="deliveries", version=1, key=("serial",), fields=[
        {"name": "serial", "type": "string"},
        {"name": "as_of", "type": "date"},
        {"name": "observed_at", "type": "timestamp", "nullable": True},
        {"name": "count", "type": "int64", "nullable": True},
        {"name": "share", "type": "float64", "nullable": True},
    ])


def _text() -> pa.Table:
    """Few distinct values in every typed column but ``share``; spoiled ones at known rows."""
    as_of = ["2026-11-22"] * N
    as_of[4321] = "2026-11-31"  # no such day
    observed = ["2026-11-22 08:30:00", "2026-11-22T00:30:00Z", " ", None] * (N // 4)
    observed[17] = "yesterday"
    count = [" 7", "12", "", "x"] * (N // 4)
    return pa.table({"serial": [f"{i:05d}" for i in range(N)], "as_of": as_of, "observed_at": observed,
                     "count": count, "share": [f"{i / 7:.4f}" for i in range(N)]})


def test_each_value_that_does_not_cast_is_named_on_its_row(c):
    staged = staging.stage(c, _text())
    t = staged.table
    assert t["as_of"][0].as_py() == date(2026, 11, 22)
    assert t["as_of"][4321].as_py() is None
    assert staged.reasons[4321] == ["bad_as_of: as_of is not a valid date: '2026-11-31'"]
    # naive text is China Standard Time; an offset is honoured (00:30Z is 08:30 CST)
    assert t["observed_at"][0].as_py().replace(tzinfo=None) == datetime(2026, 11, 22, 8, 30)
    assert t["observed_at"][1].as_py() == t["observed_at"][0].as_py()
    assert t["observed_at"][2].as_py() is None and 2 not in staged.reasons  # blank: no value, not a bad one
    assert staged.reasons[17] == ["bad_observed_at: observed_at is not a valid timestamp: 'yesterday'"]
    assert t["count"].to_pylist()[:4] == [7, 12, None, None]
    assert staged.reasons[3] == ["bad_count: count is not a valid int64: 'x'"]
    assert sorted(staged.reasons) == sorted({4321, 17} | set(range(3, N, 4)))
    assert t["share"][7].as_py() == pytest.approx(1.0)


def test_casting_each_distinct_value_once_gives_what_casting_each_row_gives(c, monkeypatch):
    text = _text()
    once = staging.stage(c, text)
    assert all(staging._few_values(text[f]) for f in ("as_of", "observed_at", "count"))
    monkeypatch.setattr(staging, "_few_values", lambda col: False)
    each = staging.stage(c, text)
    assert once.table.equals(each.table)
    assert once.reasons == each.reasons
