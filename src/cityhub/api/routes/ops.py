"""Liveness (`/healthz`), readiness (`/readyz`: what a load balancer or Kubernetes
probe asks before sending traffic) and the Prometheus metrics (`/metrics`)."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client.core import GaugeMetricFamily
from pydantic import BaseModel, Field
from sqlalchemy import text

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


def _checks(hub) -> dict[str, str]:
    checks = {}
    for name, probe in (("hub_db", lambda: _hub_db(hub)), ("catalogue", lambda: _catalogue(hub)),
                        ("lake", lambda: _lake(hub))):
        try:
            probe()
            checks[name] = "ok"
        except Exception as e:  # noqa: BLE001 - reported, whatever it is
            checks[name] = f"{type(e).__name__}: {e}"[:500]
    return checks


@router.get("/readyz", response_model=Readiness, summary="Readiness: the hub DB, the catalogue and the lake answer",
            description="503 (problem+json, with the same `checks`) when one does not.", responses=problems(503))
def readyz(hub: HubDep):  # not audited, as /healthz
    checks = _checks(hub)
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


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, hub: HubDep):
    """Prometheus text format: requests by route and status (every worker's), the
    connectors, indicators and lake (``pipelines.hub_metrics``), and readiness. Not
    audited and without a token, as a scraper asks; no label carries data (routes are
    templates; connectors, tables and indicator codes are declared names)."""
    state = request.app.state
    if not hub.cfg.metrics or getattr(state, "metrics", None) is None:
        raise Problem(404, "metrics are off on this hub (CITYHUB_METRICS=false)")
    body, content_type = state.metrics.exposition(_Readiness(hub), state.hub_collector)
    return Response(body, media_type=content_type)


class _Readiness:
    """``cityhub_ready{check}``: /readyz's checks as gauges (1 ok), for the alert rules."""

    def __init__(self, hub):
        self.hub = hub

    def collect(self):
        g = GaugeMetricFamily("cityhub_ready", "1 when the check /readyz makes passes (hub_db, catalogue, lake)",
                              labels=["check"])
        for name, result in _checks(self.hub).items():
            g.add_metric([name], int(result == "ok"))
        yield g
