"""Records of a dataset: pages, incremental changes, bulk export. Grants, region
scoping and masking decide every answer alike; every read is audited."""
from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cityhub.api import formats
from cityhub.api.deps import Bearer, HubDep, principal_of
from cityhub.api.limits import rate_limit
from cityhub.api.pages import FILTER_DOC, audit_filters, audited, page_response, query
from cityhub.api.problems import status_of
from cityhub.core.errors import CityHubError
from cityhub.read import records

router = APIRouter(tags=["data"], dependencies=[Depends(rate_limit)])

Format = Annotated[str | None, Query(pattern=r"^(json|csv|arrow)$",
                                     description="json (default), csv or arrow; or send an Accept header")]
Order = Annotated[str, Query(pattern=r"^(asc|desc)$", description="ascending or descending")]
Sort = Annotated[str, Query(pattern=r"^(lake|key)$",
                            description="lake: the lake's order (region, time, then the key), fast; key: the key")]
Region = Annotated[str | None, Query(pattern=r"^\d{6}$", description="county or city code")]
Fields = Annotated[str | None, Query(max_length=2000, description="comma-separated field names")]
Limit = Annotated[int, Query(ge=1, le=10_000)]
TABLES = {200: {"content": {"application/json": {}, "text/csv": {}, formats.ARROW: {}}}}


@router.get("/v1/datasets/{dataset}/records", summary="Records of a dataset, one page at a time",
            description="Keyset pages pinned to the snapshot of the first page, in the lake's order (region, then "
                        "its time field for most datasets), ties broken by the key." + FILTER_DOC,
            responses=TABLES)
def dataset_records(
    dataset: str, hub: HubDep, creds: Bearer, request: Request,
    region: Region = None, limit: Limit = 1000,
    cursor: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")] = None,
    fields: Fields = None, order: Order = "asc", sort: Sort = "lake", format: Format = None,
):
    p = principal_of(hub, creds)  # here, not as a dependency: one thread hop per request, not two
    fmt = formats.negotiate(format, request.headers.get("accept"), ("json", "csv", "arrow"))
    q, label, cat, acc = query(hub, request, p, "records", dataset, region, fields, order, sort)
    limit = min(limit, hub.cfg.max_page)
    filters = audit_filters(q, label, fmt, limit=limit, cursor=bool(cursor), grants=list(acc.grants))
    page = audited(hub, p, "records", cat, filters, records.read, q, limit=limit, cursor=cursor)
    return page_response(hub, page, fmt, {"dataset": dataset, "region": label})


CHANGES_DOC = (
    "What changed in your view of the dataset (your region scope and filters) since `since`; without `since`: "
    "everything so far (a full copy). A change is an **upsert** (a row present now that was not, identically, "
    "present then: new, or corrected) or a **delete** (a tombstone: a key present then that is absent now, "
    "because the row was removed, or moved out of your region or filters). Apply both on the dataset's key "
    "(`key` in JSON, the `X-Key` header): insert-or-replace the upserts, delete the tombstones' keys; within one "
    "change set a key is either upserted or deleted, so the order you apply them in does not matter. A compaction "
    "of the lake, which rewrites files with the same rows, brings nothing. While `has_more`, call again at once "
    "with `next_cursor` (the pages are pinned to the two snapshots); when done, keep `next_cursor` as the next "
    "`since`.\n\n"
    "How tombstones travel: **JSON**: `records` holds the upserted rows (`count` of them) and `deleted` the "
    "tombstones, each an object of the key's fields; **CSV and Arrow**: one table with a first column `op` "
    "(`upsert` or `delete`); a `delete` row carries the key's fields and nulls elsewhere (empty fields in CSV). "
    "Tombstones are scoped and masked like rows: you "
    "only ever receive keys of rows you could read." + FILTER_DOC)


@router.get("/v1/datasets/{dataset}/changes", summary="Upserts and deletes since a cursor (incremental sync)",
            description=CHANGES_DOC, responses=TABLES)
def dataset_changes(
    dataset: str, hub: HubDep, creds: Bearer, request: Request,
    since: Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous call")] = None,
    region: Region = None, limit: Limit = 1000, fields: Fields = None, format: Format = None,
):
    p = principal_of(hub, creds)
    fmt = formats.negotiate(format, request.headers.get("accept"), ("json", "csv", "arrow"))
    q, label, cat, acc = query(hub, request, p, "changes", dataset, region, fields)
    limit = min(limit, hub.cfg.max_page)
    filters = audit_filters(q, label, fmt, limit=limit, since=bool(since), grants=list(acc.grants))
    page = audited(hub, p, "changes", cat, filters, records.changes, q, limit=limit, since=since)
    key = list(hub.decl.contract(dataset).key)
    if fmt == "json":  # upserts as records, tombstones as a list of keys
        upserts, deleted = records.split_changes(page.rows, key)
        page = replace(page, rows=upserts, extra={**page.extra, "deleted": formats.rows(deleted)})
    return page_response(hub, page, fmt, {"dataset": dataset, "region": label, "key": key})


@router.get("/v1/datasets/{dataset}/export", summary="Bulk download: every row at one snapshot",
            description="Parquet (default), Arrow IPC stream or CSV, streamed; the same grants, scoping and "
                        "masking as pages." + FILTER_DOC,
            responses={200: {"content": {formats.PARQUET: {}, formats.ARROW: {}, "text/csv": {}}}})
def dataset_export(
    dataset: str, hub: HubDep, creds: Bearer, request: Request,
    region: Region = None, fields: Fields = None, order: Order = "asc", sort: Sort = "lake",
    format: Annotated[str | None, Query(pattern=r"^(parquet|arrow|csv)$")] = None,
):
    p = principal_of(hub, creds)
    fmt = formats.negotiate(format, request.headers.get("accept"), ("parquet", "arrow", "csv"))
    q, label, cat, acc = query(hub, request, p, "export", dataset, region, fields, order, sort)
    filters = audit_filters(q, label, fmt, grants=list(acc.grants))
    try:
        export = records.Export(hub.snapshots, q)
    except CityHubError as e:
        hub.audit(p, "export", dataset=dataset, category=cat.id, filters=filters, status=status_of(e))
        raise
    # one entry as the download starts (so a crash mid-stream still leaves a trace), one when it ends
    hub.audit(p, "export.start", dataset=dataset, category=cat.id, filters={**filters, "snapshot_id": export.snapshot_id})

    def done(rows: int, complete: bool) -> None:
        hub.audit(p, "export", dataset=dataset, category=cat.id,
                  filters={**filters, "snapshot_id": export.snapshot_id, "complete": complete}, rows=rows,
                  status=200 if complete else 499)
    return formats.export_response(export, fmt, f"{dataset}-{label}", done)
