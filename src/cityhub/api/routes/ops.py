"""Liveness."""
from __future__ import annotations

from fastapi import APIRouter

from cityhub.api.deps import HubDep

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="Liveness and the lake's reachability")
def healthz(hub: HubDep):
    return {"status": "ok", "city": hub.cfg.city, "tables": len(hub.lake.catalog.list_tables("cityhub"))}
