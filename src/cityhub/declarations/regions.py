"""Regions (GB/T 2260) declared in ``schemas/regions.yaml``.

A city is a ``37xx00`` code; its districts and counties are the codes declared
under it. Every part of the hub asks this declaration, so no code names a city.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from cityhub.declarations.loading import Declared

CityCode = Annotated[str, StringConstraints(pattern=r"^37\d{2}00$")]
CountyCode = Annotated[str, StringConstraints(pattern=r"^37\d{4}$")]


class City(Declared):
    code: CityCode
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    counties: dict[CountyCode, str] = Field(min_length=1)
    """Districts, counties and county-level cities: code -> name."""
    main_urban: tuple[CountyCode, ...] = ()
    """The districts of the city's main urban area (主城区), which the standard's city-level
    value counts (annex 1: 设区市主要指主城区, 不含县、县级市以及部分距离主城区较远、独立性较强的建制区).
    Declared by the city; none is guessed: without it, city values are whole-area values."""

    @model_validator(mode="after")
    def _under_the_city(self):
        stray = [c for c in self.counties if c[:4] != self.code[:4] or c == self.code]
        if stray:
            raise ValueError(f"{', '.join(stray)} are not counties of {self.code} (they must start {self.code[:4]})")
        unknown = [c for c in self.main_urban if c not in self.counties]
        if unknown:
            raise ValueError(f"main_urban names {', '.join(unknown)}, not districts of {self.code}")
        return self

    @property
    def regions(self) -> list[str]:
        """The city itself followed by its counties."""
        return [self.code, *self.counties]

    def contains(self, region: str) -> bool:
        return region == self.code or region in self.counties

    def name_of(self, region: str) -> str:
        return self.name if region == self.code else self.counties[region]

