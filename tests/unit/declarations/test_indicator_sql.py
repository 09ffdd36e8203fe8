"""The SQL of indicator declarations (``cityhub.declarations.sql``): the period
parameters are bound, and every query is checked against its inputs' contracts
(each problem named with the part it is in) before anything is computed."""
from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from cityhub.declarations.indicators import PARAMETERS
from cityhub.declarations.sql import bind_check, substitute


def test_substitute_binds_every_parameter():
    sql = ("SELECT $period_label AS label, $period_start AS start, $period_end AS end_, "
           "$period_start_ts AS start_ts, $period_end_ts AS end_ts, $period_end - $period_start AS days")
    assert all(p in sql for p in PARAMETERS)
    bound = substitute(sql, "2026-11", date(2026, 11, 1), date(2026, 11, 22))
    assert "$" not in bound
    con = duckdb.connect()
    (row,) = con.execute(bound).fetchall()
    assert row == ("2026-11", date(2026, 11, 1), date(2026, 11, 22), datetime(2026, 11, 1, 0, 0),
                   datetime(2026, 11, 22, 23, 59, 59, 999999), 21)
    types = {d[0]: str(t) for d, t in zip(con.execute(bound).description, con.sql(bound).types)}
    assert types == {"label": "VARCHAR", "start": "DATE", "end_": "DATE", "start_ts": "TIMESTAMP",
                     "end_ts": "TIMESTAMP", "days": "BIGINT"}


def test_substitute_binds_every_use_of_a_parameter():
    bound = substitute("SELECT $period_end_ts > $period_start_ts AND $period_end_ts = $period_end_ts",
                       "2026", date(2026, 1, 1), date(2026, 12, 31))
    assert "$" not in bound and bound.count("TIMESTAMP '2026-12-31 23:59:59.999999'") == 3
    assert duckdb.connect().execute(bound).fetchall() == [(True,)]


def test_the_installed_indicators_bind(decl):
    assert {"4", "5", "7", "18", "19", "20", "21", "27", "28", "30"} <= set(decl.indicators)
    assert not decl.broken("indicator")
    for code, ind in decl.indicators.items():
        assert bind_check(ind, decl.views, decl.contracts) == [], code


def _with_query(ind, part: str, side: str, old: str, new: str):
    """``ind`` with ``old`` replaced by ``new`` in the ``side`` query of ``part``."""
    if not ind.composite:
        sql = getattr(ind, side)
        assert old in sql
        return ind.model_copy(update={side: sql.replace(old, new)})
    comps = []
    for p in ind.components:
        if p.code == part:
            assert old in getattr(p, side)
            p = p.model_copy(update={side: getattr(p, side).replace(old, new)})
        comps.append(p)
    return ind.model_copy(update={"components": tuple(comps)})


def test_a_misspelt_column_is_named_with_its_part(decl):
    ind = _with_query(decl.indicator("5"), "5", "numerator", "WHERE c.device_id IN", "WHERE c.devce_id IN")
    (where, what), = bind_check(ind, decl.views, decl.contracts)
    assert where == "5.numerator" and "devce_id" in what
    # in a component of a composite: the component and the side
    ind = _with_query(decl.indicator("4"), "4.2", "denominator", "c.key_area_id", "c.key_areaid")
    (where, what), = bind_check(ind, decl.views, decl.contracts)
    assert where == "4.2.denominator" and "key_areaid" in what


def test_a_query_without_a_region_column_is_refused(decl):
    ind = _with_query(decl.indicator("7"), "7", "denominator", "SELECT intersection_id, region, township_code FROM",
                      "SELECT intersection_id, township_code FROM")
    (where, what), = bind_check(ind, decl.views, decl.contracts)
    assert where == "7.denominator" and "region" in what


def test_a_sum_over_a_column_the_query_lacks_is_refused(decl):
    ind = decl.indicator("20")
    assert ind.measure == "sum(visits)"
    ind = _with_query(ind, "20", "numerator", "SELECT uscc, region, township_code, channel, first_day, last_day, visits FROM",
                      "SELECT uscc, region, township_code, channel, first_day, last_day FROM")
    (where, what), = bind_check(ind, decl.views, decl.contracts)
    assert where == "20.numerator" and "visits" in what
    # the same query counted with count(*) binds: it is the measure that needs the column
    assert bind_check(ind.model_copy(update={"measure": "count(*)"}), decl.views, decl.contracts) == []


def test_every_broken_query_is_reported(decl):
    ind = _with_query(decl.indicator("4"), "4.1", "numerator", "SELECT a.area_id, a.name, a.region",
                      "SELECT a.area_id, a.name")
    ind = _with_query(ind, "4.2", "numerator", "WHERE s.status = 'ON'", "WHERE s.state = 'ON'")
    found = dict(bind_check(ind, decl.views, decl.contracts))
    assert set(found) == {"4.1.numerator", "4.2.numerator"}
    assert "region" in found["4.1.numerator"] and "state" in found["4.2.numerator"]


def test_a_broken_view_is_named(decl):
    views = {**decl.views, "registry_now": decl.views["registry_now"].replace("SELECT * FROM camera_registry",
                                                                              "SELECT * FROM camera_registy")}
    (where, what), = bind_check(decl.indicator("5"), views, decl.contracts)
    assert where == "view registry_now" and "camera_registy" in what


@pytest.mark.parametrize("code", ["5", "19"])
def test_a_misspelt_parameter_is_refused(decl, code):
    """The check runs each query with the period bound: a parameter it does not know stays unbound and fails."""
    ind = decl.indicator(code)
    broken = ind.model_copy(update={"numerator": ind.numerator.rstrip() + " AND $period_midle IS NULL"})
    (where, what), = bind_check(broken, decl.views, decl.contracts)
    assert where == f"{code}.numerator" and "period_midle" in what
