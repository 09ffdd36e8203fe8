"""Indicator values, their evidence, the standard's table and star readiness."""
from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from cityhub.access import grants
from cityhub.access.clients import Principal
from cityhub.api.deps import Caller, Hub, HubDep, scope
from cityhub.api.problems import status_of
from cityhub.api.responses import json_response
from cityhub.core.errors import CityHubError
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


@router.get("/v1/indicators/{code}/evidence", summary="The rows behind a stored value's numerator or denominator")
def indicator_evidence(
    code: str, hub: HubDep, p: Caller,
    region: Annotated[str, Query(pattern=r"^\d{6}$")],
    period: Annotated[str, Query(pattern=r"^(\d{4}(-\d{2}){0,2}|now)$")],
    side: Annotated[str, Query(pattern=r"^(numerator|denominator)$")] = "numerator",
    component: Annotated[str | None, Query(max_length=32, description="a component (4.1), an alternate "
                                                                      "(27.effective) or a whole-area figure (7.whole)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")] = None,
):
    label, _ = scope(hub, p, region)
    inputs = hub.decl.indicator(code).inputs
    # the rows behind a value are the inputs' rows: a county or department needs what it
    # would need to read those datasets; scoring and admins verify values, audited per category
    cat = hub.catalogue()
    cats = {d: cat.category_of(d) for d in inputs}
    if p.role in ("county", "department"):
        for d, c in cats.items():
            if c is not None:
                try:
                    grants.access(hub.cfg, hub.decl, p, c, d)
                except CityHubError as e:
                    hub.audit(p, "indicators.evidence", dataset=d, category=c.id,
                              filters={"code": code, "region": label}, status=status_of(e))
                    raise type(e)(f"the evidence of {code} is rows of {d}: {e.detail}") from None
    out = evidence(hub.lake, code, label, period, side, component, limit, cursor)
    for d, c in cats.items():
        hub.audit(p, "indicators.evidence", dataset=d, category=c.id if c else None,
                  filters={"code": code, "region": label, "period": period, "side": side}, rows=len(out["rows"]))
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
