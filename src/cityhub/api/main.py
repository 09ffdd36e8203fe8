"""The FastAPI application: built by ``create_app`` from settings (once per worker),
one router per resource."""
from __future__ import annotations

from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from cityhub.api import metrics, spec
from cityhub.api.deps import Hub
from cityhub.api.limits import limiter
from cityhub.api.problems import install
from cityhub.api.routes import (
    audit,
    catalogue,
    console,
    datasets,
    evidence,
    grants,
    indicators,
    open_data,
    open_metadata,
    ops,
    pages_cockpit,
    pages_console,
    quarantine,
    reports,
    session,
    star_readiness,
    token,
)
from cityhub.core.settings import Settings
from cityhub.declarations import Declarations, load
from cityhub.lake import Lake
from cityhub.read.snapshots import SnapshotCache
from cityhub.web import assets

ROUTERS = (ops, token, catalogue, datasets, open_data, open_metadata, grants, audit, indicators, evidence,
           star_readiness, reports, quarantine, pages_cockpit, session, console, pages_console)


def create_app(cfg: Settings | None = None, decl: Declarations | None = None) -> FastAPI:
    """The API over the hub ``cfg`` describes (default: the environment's settings)."""
    cfg = cfg or Settings()
    decl = decl or load(cfg.declarations)
    decl.city(cfg.city)  # an undeclared city fails here, not on the first request
    lake = Lake(cfg, decl)

    rate_limiter = limiter(cfg.rate_limit_storage)  # a storage that cannot work fails here, not per request

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        """Before the first request: few threads for the sync routes (a page is ~1 ms of
        Python holding the GIL; 40 threads contending for it cost more CPU than the pages,
        and stretched the slowest 1%). The serving process tunes its garbage collector
        itself (``cityhub.api.serve``)."""
        anyio.to_thread.current_default_thread_limiter().total_tokens = cfg.api_threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,  # operation ids: the route functions' names
        title="CityHub API",
        docs_url=None,  # /docs is served on the hub's own swagger-ui files (routes.pages_cockpit), not a CDN's
        redoc_url=None,
        version="1",
        description="City-brain data-sharing hub: shared sector data for county apps and "
                    "DB37/T 3890.1 indicator values with their evidence for the scoring layer.",
    )
    app.state.hub = Hub(cfg=cfg, decl=decl, lake=lake, snapshots=SnapshotCache(lake), limiter=rate_limiter)
    install(app)
    spec.install(app)
    metrics.install(app, cfg, lake)  # /metrics and the request counts (CITYHUB_METRICS)
    assets.mount(app)  # the pages' /static and /vendor files
    for module in ROUTERS:  # the data routes are made per declared dataset
        app.include_router(module.router_for(app.state.hub) if hasattr(module, "router_for") else module.router)
    return app
