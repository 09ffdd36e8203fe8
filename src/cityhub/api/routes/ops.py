"""Liveness (`/healthz`) and readiness (`/readyz`: what a load balancer or Kubernetes
probe asks before sending traffic)."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from sqlalchemy import text
from pydantic import BaseModel, Field

from cityhub.api.deps import HubDep
from cityhub.api.problems import Problem
from cityhub.api.spec import problems
from cityhub.lake.hubdb import engine

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    status: Literal["ok"]
    city: str = Field(description="the city the hub serves")
    tables: int = Field(description="tables in the lake's catalogue (it answered)")


@router.get("/healthz", response_model=Health, summary="Liveness and the lake's reachability")
def healthz(hub: HubDep):  # not audited: it reads no data, and load balancers ask every few seconds
    return {"status": "ok", "city": hub.cfg.city, "tables": len(hub.lake.catalog.list_tables("cityhub"))}


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str] = Field(description="hub_db, catalogue, lake: `ok` or what failed")


@router.get("/readyz", response_model=Readiness, summary="Readiness: the hub DB, the catalogue and the lake answer",
            description="503 (problem+json, with the same `checks`) when one does not.", responses=problems(503))
def readyz(hub: HubDep):  # not audited, as /healthz
    checks = {}
    for name, probe in (("hub_db", lambda: _hub_db(hub)), ("catalogue", lambda: _catalogue(hub)),
                        ("lake", lambda: _lake(hub))):
        try:
            probe()
            checks[name] = "ok"
        except Exception as e:  # noqa: BLE001 - reported, whatever it is
            checks[name] = f"{type(e).__name__}: {e}"[:500]
    failed = {k: v for k, v in checks.items() if v != "ok"}
    if failed:
        raise Problem(503, "not ready: " + "; ".join(f"{k}: {v}" for k, v in failed.items()),
                      checks=checks)
    return {"status": "ready", "checks": checks}


def _hub_db(hub) -> None:
    with engine(hub.cfg.hub_db_uri).connect() as con:
        con.execute(text("SELECT 1"))


def _catalogue(hub) -> None:
    hub.lake.catalog.list_tables("cityhub")


def _lake(hub) -> None:
    """The newest table's metadata file can be read where the lake keeps it (a
    directory, or object storage): a catalogue that answers says nothing of the files."""
    names = hub.lake.catalog.list_tables("cityhub")
    if names:
        t = hub.lake.catalog.load_table(names[0])
        if not t.io.new_input(t.metadata_location).exists():
            raise FileNotFoundError(f"{t.metadata_location} is not readable")
