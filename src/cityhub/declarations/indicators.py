"""Indicator definitions (``schemas/indicators.yaml``).

A definition is data: numerator and denominator are queries returning the rows
counted (with a ``region`` column); composite indicators (#4) are weighted
components; alternates are figures reported beside the value. The engine is
``cityhub.pipelines.indicators``. The queries are bound against the inputs'
contracts when the set is loaded, so a misspelt column is refused there, not on
the first computation.
"""
from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from cityhub.declarations.contracts import Name, Text
from cityhub.declarations.loading import Declared

IndicatorCode = Annotated[str, StringConstraints(pattern=r"^\d+(\.[a-z0-9_]+)?$")]
Measure = Annotated[str, StringConstraints(
    pattern=r"^(count\(\*\)|sum\([a-z_][a-z0-9_]*\)|count\(DISTINCT [a-z_][a-z0-9_]*\))$")]
"""What is counted over the rows: ``count(*)``, ``sum(visits)``, ``count(DISTINCT service)``."""
PARAMETERS = ("$period_label", "$period_start_ts", "$period_end_ts", "$period_start", "$period_end")


class Ratio(Declared):
    """One counted ratio: a plain indicator's, a component's or an alternate's."""
    code: IndicatorCode
    name_en: str = ""
    name_zh: str = ""
    numerator: str = Field(min_length=1)
    denominator: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0, le=1)
    definition: Text = ""
    measure: Measure = "count(*)"


class Indicator(Declared):
    code: IndicatorCode
    version: int = Field(ge=1)
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    unit: Literal["ratio"] = "ratio"
    inputs: tuple[Name, ...] = Field(min_length=1)
    """Lake datasets the queries read (their snapshot ids become the evidence)."""
    views: tuple[Name, ...] = ()
    """Shared helper views (declared under ``views:``), created in this order."""
    definition: Text = ""
    regions: Literal["all", "city"] = "all"
    """``all``: the city and each county; ``city``: the city only (catalogue-level indicators)."""
    numerator: str | None = None
    denominator: str | None = None
    measure: Measure = "count(*)"
    components: tuple[Ratio, ...] = ()
    """Weighted parts, for indicators the standard defines as a mix (#4)."""
    alternates: tuple[Ratio, ...] = ()
    """Figures reported beside the value (e.g. effective sharing beside nominal)."""

    @model_validator(mode="after")
    def _shape(self):
        plain = self.numerator is not None or self.denominator is not None
        if plain and self.components:
            raise ValueError("declare numerator and denominator, or components, not both")
        if not plain and not self.components:
            raise ValueError("declare numerator and denominator, or weighted components")
        if plain and (self.numerator is None or self.denominator is None):
            raise ValueError("a plain indicator needs both numerator and denominator")
        if self.components:
            total = sum(p.weight for p in self.components)
            if abs(total - 1.0) > 1e-9:
                raise ValueError(f"component weights sum to {total}, not 1")
        codes = [p.code for p in self.components + self.alternates]
        if len(set(codes)) != len(codes):
            raise ValueError("two parts share a code")
        return self

    @property
    def scope(self) -> str:
        return self.regions

    @property
    def parts(self) -> tuple[Ratio, ...]:
        """One part for a plain ratio; weighted components for a composite."""
        if self.components:
            return self.components
        return (Ratio(code=self.code, name_en=self.name_en, name_zh=self.name_zh, numerator=self.numerator,
                      denominator=self.denominator, definition=self.definition, measure=self.measure),)

    @property
    def composite(self) -> bool:
        return bool(self.components)

    def part(self, code: str) -> Ratio:
        for p in self.parts + self.alternates:
            if p.code == code:
                return p
        raise KeyError(code)

    def queries(self) -> list[tuple[str, str]]:
        """(where, SQL) of every query it runs, for checking."""
        return [(f"{p.code}.{side}", getattr(p, side)) for p in self.parts + self.alternates
                for side in ("numerator", "denominator")]


class Definition(Declared):
    """What a value is computed with: the indicator as declared and the SQL of the views
    it uses, frozen. Its hash names it: a stored value keeps the hash, and its evidence is
    re-run with this very definition, not with whatever the declaration says today."""
    indicator: Indicator
    views: dict[str, str]

    @property
    def hash(self) -> str:
        """A hash of what counts: inputs, scope, views' and parts' SQL, measures and weights
        (not the names and prose, which can be edited without changing a value)."""
        ind = self.indicator
        counted = {"inputs": ind.inputs, "regions": ind.regions, "views": self.views,
                   "parts": [[p.code, p.numerator, p.denominator, p.measure, p.weight] for p in ind.parts],
                   "alternates": [[p.code, p.numerator, p.denominator, p.measure] for p in ind.alternates]}
        text = json.dumps(counted, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def definition(ind: Indicator, views: dict[str, str]) -> Definition:
    return Definition(indicator=ind, views={name: views[name] for name in ind.views})


class IndicatorFile(Declared):
    """``indicators.yaml``: shared views, then the indicators (each validated on its own)."""
    views: dict[Name, str] = {}
    indicators: list[dict] = Field(min_length=1)
