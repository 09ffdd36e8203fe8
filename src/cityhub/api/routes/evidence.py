"""The evidence of an indicator's value: the rows behind its numerator or denominator,
read under the access decision of those rows' records (``cityhub.access.policies``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from cityhub.access import policies
from cityhub.access.clients import Principal
from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import HubDep, scope
from cityhub.api.fields import Number
from cityhub.api.routes.indicators import PERIOD, PERIOD_TEXT, SnapshotIds
from cityhub.api.spec import problems
from cityhub.pipelines.indicators.evidence import MAX_PAGE, evidence

router = APIRouter(tags=["indicators"])

EVIDENCE = "indicators.evidence"
"""Audit action of the evidence endpoint: one entry per input dataset served, or the refusal."""
EvidenceAudit = Annotated[AuditEntry, audited(EVIDENCE)]
"""The request's audit entry, shared by the route and its access decision."""


@dataclass(frozen=True)
class EvidenceAccess:
    """What a caller may read of the rows behind an indicator's values for a region."""
    caller: Principal
    region: str
    """The region asked for, within the caller's scope."""
    inputs: list[policies.EvidenceInput]


def evidence_access(code: str, hub: HubDep, entry: EvidenceAudit,
                    region: Annotated[str, Query(pattern=r"^\d{6}$", description="county or city code")]
                    ) -> EvidenceAccess:
    """The caller's region scope and, input by input, the access decision of the records
    the evidence is (``policies.evidence``); a refusal is a 403 naming the dataset and
    category, which the request's audit entry records."""
    entry.note(filters={"code": code, "region": region})
    label, _ = scope(hub, entry.caller, region)
    return EvidenceAccess(entry.caller, label, policies.evidence(hub.cfg, hub.decl, hub.catalogue(), entry.caller,
                                                                 code))


EvidenceReader = Annotated[EvidenceAccess, Depends(evidence_access)]


class EvidencePage(BaseModel):
    """A page of the rows behind a stored value's numerator or denominator, counted by
    the definition and over the snapshots the value was computed with."""
    code: str
    component: str = Field(description="the part the rows are of: the indicator, a component (4.1), an alternate "
                                       "(27.effective) or a whole-area figure (5.whole)")
    region: str
    period: str
    side: Literal["numerator", "denominator"]
    measure: str = Field(description="what is counted over the rows: count(*), count(DISTINCT x) or sum(x)")
    measured: Number = Field(description="the measure over every row of this side, now")
    stored: Number | None = Field(description="the stored figure the rows must number (none: not stored, e.g. a "
                                              "composite's)")
    scope: str | None = Field(description="what the figure counts")
    rows_total: int = Field(description="rows over every page")
    snapshot_ids: SnapshotIds
    definition_version: int
    definition_hash: str | None
    rows: list[dict[str, Any]] = Field(description="rows of the input datasets, without personal fields")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")
    truncated: bool = Field(description="whether more pages follow")


@router.get("/v1/indicators/{code}/evidence", response_model=EvidencePage, responses=problems(400, 401, 403, 404),
            summary="The rows behind a stored value's numerator or denominator",
            description="Rows of the indicator's input datasets, so the caller needs what it would need to read "
                        "their records: a grant for a conditionally shared category (the scoring layer applies for "
                        "one as a county does), none for unconditional ones, never for categories that are not "
                        "shared (but to their owner). Personal fields are never part of evidence.")
def indicator_evidence(
    code: str, hub: HubDep, entry: EvidenceAudit, ev: EvidenceReader,
    period: Annotated[str, Query(pattern=PERIOD, description=PERIOD_TEXT)],
    side: Annotated[Literal["numerator", "denominator"], Query()] = "numerator",
    component: Annotated[str | None, Query(max_length=32, description="a component (4.1), an alternate "
                                                                      "(27.effective) or a whole-area figure (7.whole)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")] = None,
):
    entry.note(filters={"code": code, "region": ev.region, "period": period, "side": side})
    out = evidence(hub.lake, code, ev.region, period, side, component, limit, cursor)
    for i in ev.inputs:  # one entry per input dataset, each with the grants that allowed it
        entry.write(dataset=i.dataset, category=i.category, rows=len(out["rows"]),
                    filters={**entry.filters, "grants": list(i.grants)})
    return out
