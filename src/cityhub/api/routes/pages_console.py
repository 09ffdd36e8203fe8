"""The engineers' console (``/console``) and the catalogue and grants page
(``/catalogue``). Thin: each is an HTML shell whose script reads the same ``/v1/...``
API a county app does, as the signed-in person (session cookie; actions with the CSRF
header), so every access decision, refusal and audit entry is the API's own."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cityhub.api.deps import HubDep
from cityhub.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/console", response_class=HTMLResponse)
def console_page(request: Request, hub: HubDep):
    return render(request, "console.html", page="console",
                  connectors=sorted(hub.decl.connectors), city={"code": hub.city.code, "name": hub.city.name})


@router.get("/catalogue", response_class=HTMLResponse)
def catalogue_page(request: Request, hub: HubDep):
    return render(request, "catalogue.html", page="catalogue",
                  city={"code": hub.city.code, "name": hub.city.name, "counties": dict(hub.city.counties)})
