"""People signing in to the hub's pages: the sign-in page, a session from a client's
credentials (``POST /v1/session``, checked and rate-limited as ``POST /v1/token``), or
from the city's OpenID Connect provider (``/login/oidc``), kept in cookies
(``cityhub.access.session``); who is signed in; signing out."""
from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from cityhub.access import oidc, session
from cityhub.access.clients import authenticate
from cityhub.api.auditing import AuditEntry, audited
from cityhub.api.deps import Hub, HubDep
from cityhub.api.limits import exchange_checked, rate_limit
from cityhub.api.problems import Problem
from cityhub.api.spec import problems
from cityhub.core.errors import (
    CityHubError,
    ConfigurationError,
    Forbidden,
    Unauthorized,
)
from cityhub.web.render import render

router = APIRouter(tags=["session"])
CALLBACK = "/login/oidc/callback"


class SessionOut(BaseModel):
    """Who is signed in (the client behind the session cookie or bearer token)."""
    client_id: str
    name: str
    role: str = Field(description="county, department, scoring or admin")
    region: str | None = Field(description="a county client's county code")
    department: str | None = Field(description="a department client's department id")
    expires_in: int | None = Field(None, description="seconds until the session ends (when it was just made)")


def _out(p, expires_in: int | None = None) -> dict:
    return {"client_id": p.client_id, "name": p.name, "role": p.role, "region": p.region,
            "department": p.department, "expires_in": expires_in}


def _set_cookies(hub: Hub, response: Response, tok: str, ttl: int) -> None:
    for c in session.cookies(hub.cfg, tok, ttl):
        response.set_cookie(**c.kwargs())


def _clear_cookies(hub: Hub, response: Response) -> None:
    for name, httponly in ((session.COOKIE, True), (session.CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=session.secure(hub.cfg), httponly=httponly, samesite="strict")


def _same_origin(request: Request) -> None:
    """A sign-in posted from another site's page is refused (login CSRF): a browser
    names the page's origin, which must be this hub's."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        mine = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
        public = request.app.state.hub.cfg.public_url.rstrip("/")
        if origin.rstrip("/") not in {mine, public}:
            raise Problem(403, f"a sign-in from another site ({origin}) is refused")


@router.get("/login", include_in_schema=False, response_class=HTMLResponse)
def login_page(request: Request, hub: HubDep, next: Annotated[str | None, Query(max_length=2000)] = None):
    return render(request, "login.html", page="login", next=session.safe_next(next),
                  oidc=bool(hub.cfg.oidc_issuer and hub.cfg.oidc_client_id))


@router.post("/v1/session", response_model=SessionOut, responses=problems(400, 401, 403, 429),
             summary="Sign in with a client's credentials: the token in an HttpOnly cookie",
             description="For the hub's pages. Sets `cityhub_session` (HttpOnly, SameSite=Strict; Secure when the "
                         "hub is served over https) and `cityhub_csrf`, whose value requests that change something "
                         "must send as `X-CSRF-Token`. Checked and rate-limited as POST /v1/token.",
             dependencies=[Depends(rate_limit)])
async def session_create(
    hub: HubDep, request: Request, response: Response,
    client_id: Annotated[str, Form(min_length=1, max_length=64)],
    client_secret: Annotated[str, Form(min_length=1, max_length=200)],
):
    _same_origin(request)
    # not "Basic": a browser answers that challenge with its own password dialog, and the page's fetch waits on it
    tok, ttl = await exchange_checked(request, client_id, client_secret, challenge='Cookie realm="cityhub"')
    p = await anyio.to_thread.run_sync(authenticate, hub.cfg, tok)
    await anyio.to_thread.run_sync(lambda: hub.audit(p, "session.create", rows=1, status=200))
    _set_cookies(hub, response, tok, ttl)
    return _out(p, ttl)


@router.get("/v1/session", response_model=SessionOut, responses=problems(401),
            summary="Who is signed in")
def session_show(hub: HubDep, entry: Annotated[AuditEntry, audited("session.show")]):
    entry.note(rows=1)
    return _out(entry.caller)


def _signed_out(hub: Hub) -> Response:
    response = Response(status_code=204)
    _clear_cookies(hub, response)
    return response


@router.post("/v1/session/logout", status_code=204, response_class=Response,
             summary="Sign out: the session's cookies are cleared")
def session_logout(hub: HubDep):
    return _signed_out(hub)


@router.delete("/v1/session", status_code=204, response_class=Response,
               summary="Sign out (as POST /v1/session/logout)")
def session_delete(hub: HubDep):
    return _signed_out(hub)


# -- OpenID Connect ------------------------------------------------------------------------

def _provider(hub: Hub) -> oidc.Provider:
    """The worker's provider client (discovery and JWKS kept between sign-ins)."""
    prov = getattr(hub, "_oidc", None)
    if prov is None:
        prov = oidc.Provider(hub.cfg)
        hub._oidc = prov  # type: ignore[attr-defined]
    return prov


def _refused(request: Request, e: CityHubError, status: int) -> HTMLResponse:
    return render(request, "login.html", status_code=status, page="login", next="/", error=e.detail,
                  oidc=True)


@router.get("/login/oidc", include_in_schema=False)
async def oidc_start(request: Request, hub: HubDep, next: Annotated[str | None, Query(max_length=2000)] = None):
    try:
        prov = _provider(hub)
        base = hub.cfg.public_url.rstrip("/") or str(request.base_url).rstrip("/")
        url, pending = await prov.start(base + CALLBACK, session.safe_next(next))
    except ConfigurationError as e:
        return _refused(request, e, 503)
    out = RedirectResponse(url, status_code=302)
    # Lax, not Strict: the browser comes back from the provider's site, a cross-site navigation
    out.set_cookie(oidc.PENDING_COOKIE, oidc.pack(hub.cfg, pending), max_age=oidc.PENDING_TTL_S, httponly=True,
                   secure=session.secure(hub.cfg), samesite="lax", path="/login/oidc")
    return out


@router.get(CALLBACK, include_in_schema=False)
async def oidc_callback(request: Request, hub: HubDep):
    try:
        prov = _provider(hub)
        pending = oidc.unpack(hub.cfg, request.cookies.get(oidc.PENDING_COOKIE))
        claims = await prov.finish(pending, dict(request.query_params))
        p = await anyio.to_thread.run_sync(oidc.principal_of, hub.cfg, hub.decl, prov.issuer, claims)
        tok, ttl = oidc.session_token(hub.cfg, p)
    except (Unauthorized, Forbidden, ConfigurationError) as e:
        status = 403 if isinstance(e, Forbidden) else 503 if isinstance(e, ConfigurationError) else 401
        why = {"refused": e.detail[:300]}
        await anyio.to_thread.run_sync(lambda: hub.audit(None, "session.oidc", status=status, filters=why))
        out = _refused(request, e, status)
        out.delete_cookie(oidc.PENDING_COOKIE, path="/login/oidc")
        return out
    await anyio.to_thread.run_sync(lambda: hub.audit(p, "session.oidc", rows=1, status=200))
    out = RedirectResponse(pending.next, status_code=303)
    _set_cookies(hub, out, tok, ttl)
    out.delete_cookie(oidc.PENDING_COOKIE, path="/login/oidc")
    return out
