"""One Jinja2 environment for every page, and ``render``: a template with the context
every page needs (the request, the asset URLs)."""
from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from cityhub.web import assets


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(assets.TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(echarts_url=assets.ECHARTS, vendored=assets.vendored)
    return env


def render(request: Request, template: str, status_code: int = 200, **ctx) -> HTMLResponse:
    """The page ``template`` for ``request``; ``ctx`` is its context (``page``: the nav
    item to mark current)."""
    html = environment().get_template(template).render(request=request, path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
