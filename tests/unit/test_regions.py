"""``schemas/regions.yaml``: Shandong's 16 cities with their districts, counties and
county-level cities (the national statistical division codes, 2022, without the
functional zones), and Dezhou's main urban area."""
from __future__ import annotations

import pytest

CITIES = {
    "370100": ("济南市", "Jinan"), "370200": ("青岛市", "Qingdao"), "370300": ("淄博市", "Zibo"),
    "370400": ("枣庄市", "Zaozhuang"), "370500": ("东营市", "Dongying"), "370600": ("烟台市", "Yantai"),
    "370700": ("潍坊市", "Weifang"), "370800": ("济宁市", "Jining"), "370900": ("泰安市", "Tai'an"),
    "371000": ("威海市", "Weihai"), "371100": ("日照市", "Rizhao"), "371300": ("临沂市", "Linyi"),
    "371400": ("德州市", "Dezhou"), "371500": ("聊城市", "Liaocheng"), "371600": ("滨州市", "Binzhou"),
    "371700": ("菏泽市", "Heze"),
}


@pytest.fixture(scope="module")
def cities():
    from cityhub.declarations import load

    return load().cities


def test_the_16_cities_of_shandong(cities):
    assert {code: (c.name, c.name_en) for code, c in cities.items()} == CITIES
    assert "371200" not in cities  # 莱芜 was merged into Jinan (370116 莱芜区, 370117 钢城区)


def test_every_county_lies_under_its_city_and_belongs_to_one_city(cities):
    seen: dict[str, str] = {}
    for code, c in cities.items():
        assert c.counties, code
        for county, name in c.counties.items():
            assert county[:4] == code[:4] and county != code and name, (code, county)
            assert county not in seen, (county, seen.get(county), code)
            seen[county] = code
    assert len(seen) == 136  # 58 districts, 52 counties, 26 county-level cities


def test_no_functional_zone_is_declared(cities):
    """Development zones and new areas (5th digit 7, e.g. 371471 德州天衢新区) are statistical
    units only, not GB/T 2260 divisions."""
    zones = [k for c in cities.values() for k in c.counties if k[4] == "7"]
    assert zones == []
    assert all(name.endswith(("区", "县", "市")) for c in cities.values() for name in c.counties.values())


def test_the_cities_the_hub_started_with_keep_their_codes(cities):
    assert list(cities["371400"].counties) == ["371402", "371403", "371422", "371423", "371424", "371425",
                                               "371426", "371427", "371428", "371481", "371482"]
    assert list(cities["371500"].counties) == ["371502", "371503", "371521", "371522", "371524", "371525",
                                               "371526", "371581"]
    assert list(cities["371600"].counties) == ["371602", "371603", "371621", "371622", "371623", "371625",
                                               "371681"]


def test_dezhou_declares_its_main_urban_area_and_no_other_city_does(cities):
    dezhou = cities["371400"]
    assert dezhou.main_urban == ("371402",)
    assert dezhou.counties["371402"] == "德城区"
    assert {code for code, c in cities.items() if c.main_urban} == {"371400"}
