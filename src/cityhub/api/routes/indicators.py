"""Indicator values, their evidence, the standard's table and star readiness."""
from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from cityhub.access.clients import Principal
from cityhub.api.deps import EVIDENCE, Caller, EvidenceReader, Hub, HubDep, scope
from cityhub.api.responses import json_response
from cityhub.pipelines import scoring
from cityhub.pipelines.indicators.engine import latest
from cityhub.pipelines.indicators.evidence import evidence

router = APIRouter(tags=["indicators"])

Region = Annotated[str | None, Query(pattern=r"^\d{6}$")]
Period = Annotated[str | None, Query(pattern=r"^(\d{4}(-\d{2}){0,2}|now)$")]


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


@router.get("/v1/indicators/export", responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
            summary="Latest values in the standard's table shape (CSV or JSON)")
def indicator_export(hub: HubDep, p: Caller, region: Region = None, period: Period = None,
                     format: Annotated[str, Query(pattern=r"^(csv|json)$")] = "csv"):
    want_region, rows = _rows(hub, p, region, None, period)
    table = scoring.export_rows(hub.decl, rows)
    hub.audit(p, "indicators.export", dataset="indicator_values",
              filters={"region": want_region, "period": period, "format": format}, rows=len(table))
    if format == "json":
        return json_response({"columns": [zh for zh, _ in scoring.EXPORT_COLUMNS], "rows": table})
    return Response(scoring.to_csv(table).encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="indicators.csv"'})


@router.get("/v1/indicators/{code}/evidence", summary="The rows behind a stored value's numerator or denominator",
            description="Rows of the indicator's input datasets, so the caller needs what it would need to read "
                        "their records: a grant for a conditionally shared category (the scoring layer applies for "
                        "one as a county does), none for unconditional ones, never for categories that are not "
                        "shared (but to their owner). Personal fields are never part of evidence.")
def indicator_evidence(
    code: str, hub: HubDep, ev: EvidenceReader,
    period: Annotated[str, Query(pattern=r"^(\d{4}(-\d{2}){0,2}|now)$")],
    side: Annotated[str, Query(pattern=r"^(numerator|denominator)$")] = "numerator",
    component: Annotated[str | None, Query(max_length=32, description="a component (4.1), an alternate "
                                                                      "(27.effective) or a whole-area figure (7.whole)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")] = None,
):
    out = evidence(hub.lake, code, ev.region, period, side, component, limit, cursor)
    for i in ev.inputs:
        hub.audit(ev.caller, EVIDENCE, dataset=i.dataset, category=i.category, rows=len(out["rows"]),
                  filters={"code": code, "region": ev.region, "period": period, "side": side, "grants": list(i.grants)})
    return json_response(out)


@router.get("/v1/star-readiness",
            summary="Each indicator's year-to-date value against the star thresholds (configuration)")
def star_readiness(hub: HubDep, p: Caller, region: Region = None):
    label, _ = scope(hub, p, region)
    rows = latest(hub.lake, region=label)
    hub.audit(p, "star-readiness", dataset="indicator_values", filters={"region": label}, rows=len(rows))
    return json_response(scoring.readiness(hub.decl, rows, label))


@router.get("/v1/indicators", summary="Latest indicator values with their evidence")
def indicator_values(hub: HubDep, p: Caller, region: Region = None,
                     code: Annotated[str | None, Query(max_length=16)] = None, period: Period = None):
    want_region, rows = _rows(hub, p, region, code, period)
    for r in rows:
        r["evidence"] = {"definition_version": r["definition_version"], "snapshot_ids": r["inputs"],
                         "computed_at": r["computed_at"]}
    hub.audit(p, "indicators", dataset="indicator_values",
              filters={"region": want_region, "code": code, "period": period}, rows=len(rows))
    return json_response({"indicators": rows})
