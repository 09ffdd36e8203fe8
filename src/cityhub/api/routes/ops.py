"""Liveness."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cityhub.api.deps import HubDep

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    status: Literal["ok"]
    city: str = Field(description="the city the hub serves")
    tables: int = Field(description="tables in the lake's catalogue (it answered)")


@router.get("/healthz", response_model=Health, summary="Liveness and the lake's reachability")
def healthz(hub: HubDep):  # not audited: it reads no data, and load balancers ask every few seconds
    return {"status": "ok", "city": hub.cfg.city, "tables": len(hub.lake.catalog.list_tables("cityhub"))}
