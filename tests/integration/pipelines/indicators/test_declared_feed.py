"""A feed and an indicator added with declarations and sample files only (#22, the
electronic payment rate of public transport): its sample lands through the generic
connector and the indicator counts it as the standard defines, by hand."""
from __future__ import annotations

import json
import shutil
from datetime import date, datetime

import pytest

from cityhub.connectors.sources.file_drop import folder
from cityhub.pipelines.indicators.engine import compute, latest
from cityhub.pipelines.ingest.runner import run

NAME = "transit_trips_drop"
# hand count of schemas/connectors/samples/transit_trips_drop/trips_20261122.csv:
# electronic = 公交一卡通 (transit card) + 移动支付 (mobile) + 银联闪付 (NFC); cash does not count
EXPECTED = {
    "371402": (5400 + 3400 + 2200 + 300 + 4000 + 6000, 1200 + 5400 + 3400 + 800 + 2200 + 300 + 4000 + 6000 + 0),
    "371403": (1100 + 1000, 900 + 1100 + 1000),
    "371425": (500, 1500 + 500),
}


def test_the_declared_connector_has_no_python(decl):
    spec = decl.connector(NAME)
    assert spec.function is None and spec.conformance is not None
    assert "22" in decl.indicators and decl.category_of("transit_trips").id == "transit.fare_payments"


@pytest.fixture
def landed(lake, decl):
    spec = decl.connector(NAME)
    into = folder(spec, lake.cfg)
    into.mkdir(parents=True)
    for f in spec.conformance.clean:
        shutil.copyfile(decl.root / "connectors" / f, into / f.rsplit("/", 1)[-1])
    report = run(lake, NAME)
    assert (report.landed, report.quarantined) == (14, 0)
    return lake


def test_the_sample_lands_with_its_chinese_labels_mapped(landed):
    rows = landed.query("SELECT mode, payment, sum(trips) AS n FROM transit_trips GROUP BY ALL ORDER BY ALL",
                        ["transit_trips"]).to_pylist()
    assert {(r["mode"], r["payment"]) for r in rows} == {
        ("bus", "cash"), ("bus", "transit_card"), ("bus", "mobile"), ("bus", "nfc"),
        ("rail", "cash"), ("rail", "transit_card"), ("rail", "mobile")}


def test_22_is_the_hand_counted_share_of_trips_paid_electronically(landed):
    compute(landed, date(2026, 11, 22), codes=["22"], kinds=("day", "year"), now=datetime(2026, 11, 23, 8))
    values = {(v["region"], v["period"]): v for v in latest(landed, code="22")}
    for region, (num, den) in EXPECTED.items():
        for period in ("2026-11-22", "2026"):
            v = values[(region, period)]
            assert (v["numerator"], v["denominator"]) == (num, den)
            assert v["value"] == pytest.approx(num / den)
    # the city's value is its main urban area's (德城区 371402), the whole city's beside it
    city = values[("371400", "2026-11-22")]
    assert (city["numerator"], city["denominator"]) == EXPECTED["371402"] == (21300, 23300)
    assert city["value"] == pytest.approx(21300 / 23300) and "371402" in city["scope"]
    whole = next(x for x in json.loads(city["components"]) if x["code"] == "22.whole")
    num, den = (sum(n for n, _ in EXPECTED.values()), sum(d for _, d in EXPECTED.values()))
    assert (whole["numerator"], whole["denominator"]) == (num, den) == (23900, 28300)
    assert whole["value"] == pytest.approx(23900 / 28300)
    # a county with no trips has no value and says why
    none = values[("371426", "2026-11-22")]
    assert none["value"] is None and "denominator is 0" in none["reason"]
