"""Indicator values, and the standard's table of them (CSV or JSON)."""
from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, create_model

from cityhub.access.clients import Principal
from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import Hub, HubDep, scope
from cityhub.api.fields import CstTime, Number
from cityhub.api.spec import problems
from cityhub.pipelines import scoring
from cityhub.pipelines.indicators.engine import latest

router = APIRouter(tags=["indicators"])

Region = Annotated[str | None, Query(pattern=r"^\d{6}$", description="the city or one of its counties "
                                                                      "(a county client: its own county)")]
PERIOD = r"^(\d{4}(-\d{2}){0,2}|now)$"
PERIOD_TEXT = "YYYY-MM-DD, YYYY-MM (month to date), YYYY (year to date) or now"
Period = Annotated[str | None, Query(pattern=PERIOD, description=f"{PERIOD_TEXT}; every period unless given")]
VALUES = "indicator_values"
"""The lake dataset the values are read from (named in the audit entries)."""
SnapshotIds = dict[str, int | None]
"""The lake snapshot each input dataset was read at (none: nothing landed in it yet)."""


class IndicatorPart(BaseModel):
    """A weighted component of a composite indicator (4.1), or a figure beside the
    standard's value: an alternate (27.effective) or the whole administrative area
    (5.whole, 4.1.whole)."""
    code: str
    name: str
    name_zh: str | None = Field(None, description="whole-area figures: the name in the standard, 全域")
    weight: float
    numerator: Number | None = Field(description="none for a composite's whole-area figure (it is weighted)")
    denominator: Number | None
    value: float | None = Field(description="none when the denominator is 0 (`reason` says why)")
    reason: str | None
    kind: Literal["component", "alternate"]
    scope: str | None = Field(None, description="whole-area figures: what they count")


class ValueEvidence(BaseModel):
    """What a value was computed from: the rows behind it are at /v1/indicators/{code}/evidence."""
    definition_version: int
    snapshot_ids: SnapshotIds
    computed_at: CstTime


class IndicatorValue(BaseModel):
    """The latest computed value of an indicator for a region and period."""
    code: str = Field(description="the standard's indicator number")
    name: str
    name_zh: str | None = Field(description="the indicator's name in the standard")
    region: str
    period: str = Field(description="YYYY-MM-DD, YYYY-MM or YYYY (year to date)")
    period_start: date
    period_end: date
    value: float | None = Field(description="none when it cannot be computed (`reason` says why)")
    numerator: float | None = Field(description="none for a composite (see `components`)")
    denominator: float | None
    unit: str
    reason: str | None = Field(description="why there is no value, or what to know about it")
    scope: str | None = Field(description="what the value counts (the standard's scope)")
    rows_without_township: int | None = Field(description="rows counted in the scope without a township code")
    components: list[IndicatorPart] | None = Field(description="a composite's weighted parts")
    alternates: list[IndicatorPart] | None = Field(description="figures beside the standard's value")
    inputs: SnapshotIds
    definition_version: int
    definition_hash: str | None = Field(description="the definition it was computed with")
    computed_at: CstTime
    evidence: ValueEvidence


class IndicatorValues(BaseModel):
    indicators: list[IndicatorValue]


_TABLE_TYPES = {"code": str, "name_zh": str, "name_en": str, "region": str, "region_name": str, "period": str,
                "value": float | None, "numerator": Number | None, "denominator": Number | None,
                "reason": str | None, "scope": str | None, "definition_version": int, "definition_hash": str | None,
                "inputs": SnapshotIds, "computed_at": CstTime}
IndicatorTableRow = create_model(
    "IndicatorTableRow", __doc__="A row of the standard's table: an indicator's value, or a figure beside it "
                                 "(a whole-area or alternate figure, on a row of its own), by the columns' names.",
    **{key: (_TABLE_TYPES[key], Field(alias=zh)) for zh, key in scoring.EXPORT_COLUMNS})


class IndicatorTable(BaseModel):
    columns: list[str] = Field(description="the columns' names, in the standard's order")
    rows: list[IndicatorTableRow]


def _rows(hub: Hub, p: Principal, region: str | None, code: str | None, period: str | None
          ) -> tuple[str | None, list]:
    label, _ = scope(hub, p, region)
    want_region = label if (region or p.role == "county") else None
    rows = latest(hub.lake, code=code, region=want_region, period_label=period)
    for r in rows:
        r["inputs"] = json.loads(r["inputs"])
        parts = json.loads(r["components"]) if r["components"] else []
        r["components"] = [x for x in parts if x.get("kind") != "alternate"] or None
        r["alternates"] = [x for x in parts if x.get("kind") == "alternate"] or None
    return want_region, rows


@router.get("/v1/indicators/export", response_model=IndicatorTable,
            responses={200: {"description": "The table: CSV (UTF-8 with a byte-order mark, one header row of the "
                                            "columns' names) or, with format=json, the columns and the rows",
                             "content": {"text/csv": {"schema": {"type": "string"}}}},
                       **problems(400, 401, 403)},
            summary="Latest values in the standard's table shape (CSV or JSON)")
def indicator_export(hub: HubDep, entry: Annotated[AuditEntry, audited("indicators.export")],
                     region: Region = None, period: Period = None,
                     format: Annotated[Literal["csv", "json"], Query(description="csv (default) or json")] = "csv"):
    entry.note(dataset=VALUES, filters={"region": region, "period": period, "format": format})
    want_region, rows = _rows(hub, entry.caller, region, None, period)
    table = scoring.export_rows(hub.decl, rows)
    entry.note(filters={"region": want_region, "period": period, "format": format}, rows=len(table))
    if format == "json":
        return {"columns": [zh for zh, _ in scoring.EXPORT_COLUMNS], "rows": table}
    return Response(scoring.to_csv(table).encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="indicators.csv"'})


@router.get("/v1/indicators", response_model=IndicatorValues, responses=problems(400, 401, 403),
            summary="Latest indicator values with their evidence")
def indicator_values(hub: HubDep, entry: Annotated[AuditEntry, audited("indicators")], region: Region = None,
                     code: Annotated[str | None, Query(max_length=16, description="an indicator's number")] = None,
                     period: Period = None):
    entry.note(dataset=VALUES, filters={"region": region, "code": code, "period": period})
    want_region, rows = _rows(hub, entry.caller, region, code, period)
    for r in rows:
        r["evidence"] = {"definition_version": r["definition_version"], "snapshot_ids": r["inputs"],
                         "computed_at": r["computed_at"]}
    entry.note(filters={"region": want_region, "code": code, "period": period}, rows=len(rows))
    return {"indicators": rows}
