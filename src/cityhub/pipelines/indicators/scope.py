"""The standard's statistical scope (DB37/T 3890.1 annex 1): 设区市主要指主城区，不含县、
县级市以及部分距离主城区较远、独立性较强的建制区，数据统计范围不含乡镇.

A city-level value counts the city's main urban districts only (declared per city in
``regions.yaml``; none is guessed) and a county-level value its county; neither counts
rows located in towns (镇) or townships (乡), told apart by the township digits of the
statistical division code: 001-099 street, 100-199 town, 200-399 township, 400-599
town-like unit (kept). A row without a township code is counted with its district or
county, and the value says how many rows lacked one. The whole administrative area is
reported beside the standard's figure.
"""
from __future__ import annotations

from cityhub.declarations.regions import City

TOWNSHIP = "township_code"
"""The column of counted rows that carries the township-level code, when the source has one."""
TOWN_OR_TOWNSHIP = f"coalesce(TRY_CAST(substr({TOWNSHIP}, 7, 3) AS INTEGER) BETWEEN 100 AND 399, false)"


def in_scope(has_township: bool) -> str:
    """SQL: the row is inside the standard's scope as far as its township goes."""
    return f"NOT {TOWN_OR_TOWNSHIP}" if has_township else "true"


def has_code(has_township: bool) -> str:
    """SQL: the row carries a township code."""
    return f"{TOWNSHIP} IS NOT NULL" if has_township else "false"


def regions_of(c: City, region: str) -> list[str]:
    """The counties a value for ``region`` counts in the standard's scope."""
    if region != c.code:
        return [region]
    return list(c.main_urban) or list(c.counties)


def describe(c: City, region: str, city_level: bool = False) -> str:
    """The scope a value was counted over, in Chinese and English."""
    if city_level:
        return f"全市（{c.name}）/ the whole city {c.code}: a catalogue-level indicator"
    if region != c.code:
        return f"{c.counties[region]}（{region}），不含乡镇 / county {region} without its towns and townships"
    if not c.main_urban:
        return (f"全市（{c.name}），主城区未声明 / the whole city {c.code}: its main urban area is not declared, "
                "towns and townships included")
    names = "、".join(c.counties[r] for r in c.main_urban)
    return (f"主城区（{names}），不含乡镇 / the main urban area {', '.join(c.main_urban)} "
            "without towns and townships")


def undeclared(c: City) -> str:
    """Why a city value is a whole-area value."""
    return (f"the main urban area of {c.code} is not declared (regions.yaml: main_urban): "
            "the value counts the whole city, towns and townships included")


WHOLE_AREA = "全域（含县、乡镇）/ the whole administrative area, towns and townships included"
