"""Regions (GB/T 2260) from the declaration in ``schemas/regions.yaml``.

A city is a ``37xx00`` code; its counties are the codes declared under it. Every
part of the hub asks this module, so no code names Dezhou.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from schemas import load_yaml


@dataclass(frozen=True)
class City:
    code: str
    name: str
    name_en: str
    counties: dict[str, str]

    @property
    def regions(self) -> list[str]:
        """The city itself followed by its counties."""
        return [self.code, *self.counties]

    def contains(self, region: str) -> bool:
        return region == self.code or region in self.counties

    def name_of(self, region: str) -> str:
        return self.name if region == self.code else self.counties[region]


class UnknownRegion(ValueError):
    pass


@lru_cache(maxsize=None)
def cities() -> dict[str, City]:
    raw = load_yaml("regions.yaml")["cities"]
    return {
        code: City(code=code, name=c["name"], name_en=c.get("name_en", code), counties=dict(c["counties"]))
        for code, c in raw.items()
    }


def city(code: str) -> City:
    """The declared city ``code`` (``37xx00``); a clear error for anything else."""
    try:
        return cities()[code]
    except KeyError:
        known = ", ".join(sorted(cities()))
        raise UnknownRegion(f"city {code!r} is not declared in schemas/regions.yaml (known: {known})") from None


def is_city_code(region: str) -> bool:
    return len(region) == 6 and region.endswith("00")
