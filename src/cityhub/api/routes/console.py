"""The feeds and the datasets as engineers watch them (the console's API): every
connector's status, every dataset with its rows and snapshots. Thin over
``cityhub.pipelines.console``; who sees what is ``cityhub.access.policies``."""
from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter
from pydantic import BaseModel, Field

from cityhub.access import policies
from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import HubDep
from cityhub.api.fields import CstTime, Number
from cityhub.api.spec import problems
from cityhub.pipelines import console

router = APIRouter(tags=["operations"])


class Failure(BaseModel):
    at: CstTime | None
    error: str | None


class ConnectorStatus(BaseModel):
    """One feed, as ``cityhub connectors status`` shows it."""
    connector: str
    dataset: str | None = Field(description="none: its declaration is broken")
    source: str | None = Field(description="file_drop, http, sql or kafka")
    configured: str = Field(description="yes, or why it does not run here")
    last_run: CstTime | None
    result: str = Field(description="ok, failed: <error>, never run, or why the declaration is broken")
    landed: int = Field(description="rows the last run landed")
    quarantined: int = Field(description="items the last run quarantined")
    lag: int | None = Field(description="deliveries waiting in the drop folder, or messages behind on the topic")
    last_data: CstTime | None = Field(description="when the feed last delivered rows")
    age_hours: Number | None = Field(description="hours since then")
    fresh: bool | None = Field(description="whether that is within its declared freshness (none: never delivered)")
    freshness_hours: Number | None = Field(description="the declared freshness target")
    drift: dict | None = Field(description="the last run's schema drift: new_fields, missing_fields, type_changes")
    failures: int = Field(description=f"failed runs among its last {console.RECENT_RUNS}")
    last_failure: Failure | None


class ConnectorList(BaseModel):
    connectors: list[ConnectorStatus]


class DatasetInfo(BaseModel):
    """A dataset the caller may see, with its rows and snapshots."""
    dataset: str
    title: str
    category: str
    category_name_zh: str
    owner: str
    rows: int = Field(description="rows at the latest snapshot, in `scope`")
    scope: str = Field(description="all, or the county codes counted")
    snapshots: int = Field(description="snapshots the lake keeps")
    snapshot_id: str | None = Field(description="the latest snapshot (none: nothing landed yet)")
    snapshot_at: CstTime | None


class DatasetList(BaseModel):
    datasets: list[DatasetInfo]


ConnectorsAudit = Annotated[AuditEntry, audited("connectors.status")]
DatasetsAudit = Annotated[AuditEntry, audited("datasets.list")]


@router.get("/v1/connectors", response_model=ConnectorList, responses=problems(401, 403),
            summary="Every feed: last run, rows landed and quarantined, freshness, lag, drift, failures",
            description="Admins see every connector; a department those that land its categories' datasets.")
async def connectors_status(hub: HubDep, entry: ConnectorsAudit):
    own = policies.operations_datasets(hub.catalogue(), entry.caller)
    rows = await anyio.to_thread.run_sync(console.connectors, hub.lake, own)
    entry.note(rows=len(rows))
    return {"connectors": rows}


@router.get("/v1/datasets", response_model=DatasetList, responses=problems(401),
            summary="The datasets the caller may see, with rows and snapshots",
            description="Rows of the whole table for those who operate its feed (admins, the owning department); "
                        "for the others the rows their access allows (a county: its own county's), and only the "
                        "datasets they may read.")
async def datasets_list(hub: HubDep, entry: DatasetsAudit):
    rows = await anyio.to_thread.run_sync(console.dataset_overview, hub.lake, hub.catalogue(), entry.caller)
    entry.note(rows=len(rows))
    return {"datasets": rows}
