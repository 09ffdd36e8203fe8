"""The leadership cockpit (``/``), an indicator's detail page (``/indicators/{code}``) and
the API's documentation (``/docs``) on the hub's own swagger-ui files. Thin: each page is
an HTML shell whose script reads the same ``/v1/...`` API a county app does, as the
signed-in caller (``cityhub.web``); the shell itself holds no data beyond the declared
regions and indicator names."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from cityhub.api.deps import HubDep
from cityhub.web import assets
from cityhub.web.layouts import layout
from cityhub.web.render import render

router = APIRouter(include_in_schema=False)

DOCS_OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def _city(hub) -> dict:
    c = hub.city
    return {"code": c.code, "name": c.name, "name_en": c.name_en, "counties": dict(c.counties),
            "main_urban": list(c.main_urban)}


def _indicators(hub) -> list[dict]:
    return [{"code": code, "name_zh": i.name_zh, "name_en": i.name_en, "unit": i.unit}
            for code, i in hub.decl.indicators.items()]


@router.get("/", response_class=HTMLResponse)
def cockpit(request: Request, hub: HubDep):
    city = _city(hub)
    return render(request, "cockpit.html", page="cockpit", city=city, indicators=_indicators(hub),
                  layout=layout(city["code"], tuple(city["counties"])))


def _definition(hub, code: str) -> dict | None:
    """The declared definition (its text, version, parts and their queries); the values,
    the version each was computed with and its evidence come from the API."""
    i = hub.decl.indicators.get(code)
    if i is None:
        return None
    parts = [{"code": p.code, "name_zh": p.name_zh, "name_en": p.name_en, "weight": p.weight,
              "definition": p.definition, "numerator": p.numerator, "denominator": p.denominator,
              "measure": p.measure, "kind": kind}
             for kind, group in (("component", i.components), ("alternate", i.alternates)) for p in group]
    return {"code": i.code, "version": i.version, "name_zh": i.name_zh, "name_en": i.name_en, "unit": i.unit,
            "definition": i.definition, "numerator": i.numerator, "denominator": i.denominator,
            "measure": i.measure, "inputs": list(i.inputs), "regions": i.regions, "parts": parts}


@router.get("/indicators/{code}", response_class=HTMLResponse)
def indicator_page(request: Request, hub: HubDep, code: str):
    definition = _definition(hub, code)
    return render(request, "indicator.html", status_code=200 if definition else 404, page="indicator", code=code,
                  known=definition is not None, definition=definition, city=_city(hub))


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """swagger-ui from ``/vendor`` (FastAPI's default page loads it from a CDN)."""
    return get_swagger_ui_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} · API 文档",
                               swagger_js_url=assets.SWAGGER_JS, swagger_css_url=assets.SWAGGER_CSS,
                               swagger_favicon_url=assets.SWAGGER_FAVICON,
                               oauth2_redirect_url=DOCS_OAUTH2_REDIRECT,
                               swagger_ui_parameters={"persistAuthorization": True})


@router.get(DOCS_OAUTH2_REDIRECT, response_class=HTMLResponse)
def docs_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()
