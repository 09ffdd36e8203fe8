"""Star readiness: each indicator's year-to-date value against the star thresholds."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import HubDep, scope
from cityhub.api.routes.indicators import VALUES, Region
from cityhub.api.spec import problems
from cityhub.pipelines import scoring
from cityhub.pipelines.indicators.engine import latest

router = APIRouter(tags=["indicators"])


class IndicatorReadiness(BaseModel):
    code: str
    name_zh: str
    name_en: str
    period: str | None = Field(description="the latest year-to-date period with a value (none: not computed yet)")
    value: float | None
    reason: str | None = Field(description="why there is no value")
    thresholds: dict[Literal[3, 4, 5], float] = Field(description="the value each star needs, by the number of stars "
                                                                    "(3, 4 or 5)")
    stars_met: int = Field(description="the most stars whose threshold the value reaches (0: none)")


class StarReadiness(BaseModel):
    region: str
    region_name: str
    thresholds_source: str | None = Field(description="where the thresholds come from (configuration)")
    stars_met_by_all: int = Field(description="the stars every indicator reaches")
    indicators: list[IndicatorReadiness]


@router.get("/v1/star-readiness", response_model=StarReadiness, responses=problems(400, 401, 403),
            summary="Each indicator's year-to-date value against the star thresholds (configuration)")
def star_readiness(hub: HubDep, entry: Annotated[AuditEntry, audited("star-readiness")], region: Region = None):
    entry.note(dataset=VALUES, filters={"region": region})
    label, _ = scope(hub, entry.caller, region)
    rows = latest(hub.lake, region=label)
    entry.note(filters={"region": label}, rows=len(rows))
    return scoring.readiness(hub.decl, rows, label)


class StarReadinessByRegion(BaseModel):
    regions: list[StarReadiness] = Field(description="the city first, then each county, as the caller may see them")


@router.get("/v1/star-readiness/regions", response_model=StarReadinessByRegion, responses=problems(401),
            summary="Star readiness of the city and each of its counties at once (a county client: its own)",
            description="What /v1/star-readiness answers for each region, from one read of the values: the "
                        "cockpit shows the city and every county side by side.")
def star_readiness_by_region(hub: HubDep, entry: Annotated[AuditEntry, audited("star-readiness")]):
    entry.note(dataset=VALUES)
    label, counties = scope(hub, entry.caller, None)
    regions = [label] if entry.caller.role == "county" else [hub.city.code, *counties]
    rows = latest(hub.lake, region=label if entry.caller.role == "county" else None)
    entry.note(filters={"region": label}, rows=len(rows))
    return {"regions": [scoring.readiness(hub.decl, rows, r) for r in regions]}
