"""Indicator definitions, loaded from ``schemas/indicators.yaml``.

A definition is data: numerator and denominator are queries returning the rows
counted (with a ``region`` column); composite indicators (#4) are weighted
components. The engine is ``pipelines.indicators``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from schemas import load_yaml


@dataclass(frozen=True, eq=False)
class Ratio:
    code: str
    name_en: str
    numerator: str
    denominator: str
    weight: float = 1.0
    definition: str = ""
    measure: str = "count(*)"
    """What is counted over the rows: ``count(*)``, ``sum(visits)``, ``count(DISTINCT service)``."""


@dataclass(frozen=True, eq=False)
class Indicator:
    code: str
    version: int
    name_zh: str
    name_en: str
    unit: str
    inputs: tuple[str, ...]
    views: tuple[tuple[str, str], ...]
    parts: tuple[Ratio, ...]
    """One part for a plain ratio; weighted components for a composite."""
    definition: str = ""
    scope: str = "all"
    """``all``: the city and each county; ``city``: the city only (catalogue-level indicators)."""
    alternates: tuple[Ratio, ...] = ()
    """Figures reported beside the value (e.g. effective sharing beside nominal)."""

    @property
    def composite(self) -> bool:
        return len(self.parts) > 1 or self.parts[0].code != self.code

    def part(self, code: str) -> Ratio:
        for p in self.parts + self.alternates:
            if p.code == code:
                return p
        raise KeyError(code)


def _parse(raw: dict, shared_views: dict[str, str]) -> Indicator:
    code = str(raw["code"])
    if "components" in raw:
        parts = tuple(_ratio(c) for c in raw["components"])
        total = sum(p.weight for p in parts)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"indicator {code}: component weights sum to {total}, not 1")
    else:
        parts = (_ratio({**raw, "code": code, "weight": 1.0}),)
    alternates = tuple(_ratio(a) for a in raw.get("alternates", ()))
    scope = raw.get("regions", "all")
    if scope not in ("all", "city"):
        raise ValueError(f"indicator {code}: regions must be all or city, not {scope!r}")
    return Indicator(
        code=code, version=int(raw["version"]), name_zh=raw.get("name_zh", ""), name_en=raw["name_en"],
        unit=raw.get("unit", "ratio"), inputs=tuple(raw["inputs"]),
        views=tuple((v, shared_views[v]) for v in raw.get("views", ())),
        parts=parts, definition=" ".join(str(raw.get("definition", "")).split()),
        scope=scope, alternates=alternates,
    )


def _ratio(c: dict, name_en: str | None = None) -> Ratio:
    return Ratio(code=str(c["code"]), name_en=c.get("name_en", name_en or ""), numerator=c["numerator"],
                 denominator=c["denominator"], weight=float(c.get("weight", 1.0)),
                 definition=" ".join(str(c.get("definition", "")).split()), measure=c.get("measure", "count(*)"))


@lru_cache(maxsize=None)
def indicators() -> dict[str, Indicator]:
    doc = load_yaml("indicators.yaml")
    return {str(r["code"]): _parse(r, doc.get("views", {})) for r in doc["indicators"]}


def indicator(code: str) -> Indicator:
    try:
        return indicators()[code]
    except KeyError:
        raise KeyError(f"no indicator {code!r} (declared: {', '.join(indicators())})") from None
