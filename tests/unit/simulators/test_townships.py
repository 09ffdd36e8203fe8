"""The simulators' township codes (统计用区划代码: county + 3 digits): every item lies in a
real township-level unit of its own county, township health centres in towns or
townships, a few items without a code, all of it fixed by the seed."""
from __future__ import annotations

import tomllib
from collections import Counter
from glob import glob
from pathlib import Path

import pytest

from cityhub.connectors.mappings.medical import organizations
from cityhub_sim import cameras, common, medical, traffic
from cityhub_sim.common import STREET, TOWN, TOWN_LIKE, TOWNSHIP, Townships, townships, unit_kind

REPO = Path(__file__).resolve().parents[3]


def generate(seed: int = 1, city: str = "371400") -> dict[str, list[dict]]:
    """One small clean world per feed, as rows with region, township_code and kind."""
    cw = cameras.generate(cameras.SimConfig(city=city, seed=seed, cameras_per_county=120,
                                            key_areas_per_county=25, fault_rate=0))
    tw = traffic.generate(traffic.TrafficConfig(city=city, seed=seed, intersections_per_county=80, fault_rate=0))
    mw = medical.generate(medical.MedicalConfig(city=city, seed=seed, institutions_per_county=200, fault_rate=0))
    return {
        "key_areas": [dict(r, township_code=r["township_code"] or None) for r in cw.key_areas],
        "cameras": [dict(r, township_code=r["township_code"] or None) for r in cw.registry],
        "intersections": tw.intersections,
        # read as the hub's mapping reads the FHIR Organization
        "institutions": organizations(mw.organizations, None),
    }


@pytest.fixture(scope="module")
def world() -> dict[str, list[dict]]:
    return generate()


def kinds(rows: list[dict]) -> Counter:
    return Counter(unit_kind(r["township_code"]) if r["township_code"] else None for r in rows)


def test_the_data_has_the_units_of_every_declared_county_and_no_other(decl):
    declared = {k for c in decl.cities.values() for k in c.counties}
    data = townships()
    assert set(data) == declared
    for county, units in data.items():
        assert units, county
        for code, name in units.items():
            assert len(code) == 9 and code.isdigit() and code[:6] == county and name, code
            assert unit_kind(code) is not None, code


def test_the_data_ships_in_the_simulators_package():
    config = tomllib.loads((REPO / "simulators" / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["cityhub_sim"]
    root = REPO / "simulators" / "src" / "cityhub_sim"
    shipped = {Path(f).resolve() for p in patterns for f in glob(str(root / p), recursive=True)}
    assert (root / "data" / "townships_37.csv").resolve() in shipped


@pytest.mark.parametrize("feed", ["key_areas", "cameras", "intersections", "institutions"])
def test_every_code_is_a_unit_of_the_items_county(world, feed):
    data = townships()
    coded = [r for r in world[feed] if r["township_code"]]
    assert coded
    for r in coded:
        assert r["township_code"][:6] == r["region"], r
        assert r["township_code"] in data[r["region"]], r


def test_a_camera_watching_a_key_area_lies_in_its_unit(world):
    area = {a["area_id"]: a["township_code"] for a in world["key_areas"]}
    pairs = [(c["township_code"], area[c["key_area_id"]]) for c in world["cameras"]
             if c["key_area_id"] and c["township_code"] and area[c["key_area_id"]]]
    assert len(pairs) > 500
    assert all(mine == theirs for mine, theirs in pairs)


def test_township_health_centres_are_in_towns_or_townships(world):
    centres = [r for r in world["institutions"] if r["kind"] == "township_health_centre" and r["township_code"]]
    assert len(centres) > 30
    assert {unit_kind(r["township_code"]) for r in centres} <= {TOWN, TOWNSHIP}
    # one per town or township before a second one anywhere (registry order is serial order)
    for county in {r["region"] for r in centres}:
        first = [r["township_code"] for r in world["institutions"] if r["kind"] == "township_health_centre"
                 and r["region"] == county][:len(Townships(county).pool("rural"))]
        coded = [c for c in first if c]
        assert len(set(coded)) == len(coded), county


def test_community_health_centres_are_in_streets(world):
    centres = [r for r in world["institutions"] if r["kind"] == "community_health_centre" and r["township_code"]]
    assert centres and {unit_kind(r["township_code"]) for r in centres} == {STREET}


def test_a_district_without_towns_has_its_health_centres_in_streets():
    """Qingdao's 市南区 has streets only: its centres are 街道卫生院."""
    rows = organizations(medical.generate(medical.MedicalConfig(city="370200", institutions_per_county=100,
                                                                fault_rate=0)).organizations, None)
    centres = [r for r in rows if r["kind"] == "township_health_centre" and r["township_code"]]
    assert {unit_kind(r["township_code"]) for r in centres if r["region"] == "370202"} == {STREET}
    elsewhere = [r for r in centres if r["region"] != "370202" and TOWN in {unit_kind(c) for c in townships()[r["region"]]}]
    assert elsewhere and {unit_kind(r["township_code"]) for r in elsewhere} <= {TOWN, TOWNSHIP}


@pytest.mark.parametrize("feed", ["key_areas", "cameras", "intersections"])
def test_key_areas_cameras_and_intersections_are_mostly_in_streets(world, feed):
    k = kinds(world[feed])
    coded = sum(n for kind, n in k.items() if kind)
    assert k[STREET] / coded > 0.65, k
    assert k[TOWN] / coded > 0.05, k  # some are out in the towns


def test_major_intersections_are_more_urban_than_branch_ones(world):
    share = {cls: kinds([r for r in world["intersections"] if r["road_class"] == cls]) for cls in ("major", "branch")}
    street = {cls: k[STREET] / sum(n for kind, n in k.items() if kind) for cls, k in share.items()}
    assert street["major"] > street["branch"], share


def test_hospitals_are_mostly_in_streets(world):
    k = kinds([r for r in world["institutions"] if r["kind"].endswith("_hospital")])
    assert k[STREET] / sum(n for kind, n in k.items() if kind) > 0.7, k


def test_the_share_without_a_code_is_small(world):
    rows = [r for feed in world.values() for r in feed]
    missing = sum(1 for r in rows if not r["township_code"]) / len(rows)
    assert 0.015 < missing < 0.05, missing
    for feed, items in world.items():
        assert sum(1 for r in items if not r["township_code"]) / len(items) < 0.08, feed


def test_the_codes_are_fixed_by_the_seed(world):
    def codes(w):
        return {feed: [r["township_code"] for r in rows] for feed, rows in w.items()}

    assert codes(generate(seed=1)) == codes(world)
    other = codes(generate(seed=2))
    assert all(other[feed] != codes(world)[feed] for feed in other)


def test_a_kind_the_county_lacks_falls_back(monkeypatch):
    fake = {"379901": {"379901101": "甲镇", "379901102": "乙镇", "379901400": "开发区"},
            "379902": {"379902001": "甲街道", "379902002": "乙街道"}}
    monkeypatch.setattr(common, "townships", lambda: fake)
    towns_only, streets_only = Townships("379901"), Townships("379902")
    assert towns_only.pool(STREET) == ("379901101",)  # the seat: the lowest-coded town
    assert towns_only.pool(TOWNSHIP) == ("379901101", "379901102")  # a town when there is no township
    assert towns_only.pool("rural") == ("379901101", "379901102")
    assert streets_only.pool(TOWN) == streets_only.pool(TOWN_LIKE) == ("379902001", "379902002")
    assert streets_only.pool("rural") == ("379902001", "379902002")
    nowhere = Townships("379903")  # a county the data does not know: no code
    assert not nowhere and nowhere.draw(lambda: 0.5, (STREET,)) is None
