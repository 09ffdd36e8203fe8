"""Errors as RFC 9457 ``application/problem+json`` documents that say what is wrong.

The one place where the hub's error kinds (``cityhub.core.errors``) become HTTP
statuses; routes raise ``Problem`` only for what is HTTP's own (406, 429, headers).
"""
from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cityhub.access.policies import TokenRequired
from cityhub.core.errors import (
    CityHubError,
    ConfigurationError,
    Conflict,
    DeclarationError,
    Forbidden,
    Gone,
    InvalidRequest,
    NotFound,
    SourceError,
    Unauthorized,
)

PROBLEM = "application/problem+json"

STATUS = {InvalidRequest: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, Conflict: 409, Gone: 410,
          SourceError: 502, ConfigurationError: 503, DeclarationError: 503}


class Problem(Exception):
    """An HTTP answer of the API's own (a status with headers or extra members)."""

    def __init__(self, status: int, detail: str, headers: dict | None = None, **extra):
        super().__init__(detail)
        self.status, self.detail, self.headers, self.extra = status, detail, headers, extra


def status_of(e: Exception) -> int:
    """The status the API answers ``e`` with (the handlers below): for the audit entry of a refusal."""
    if isinstance(e, Problem):
        return e.status
    if isinstance(e, RequestValidationError):
        return 400
    if isinstance(e, StarletteHTTPException):
        return e.status_code
    return next((code for kind, code in STATUS.items() if isinstance(e, kind)), 500)


def problem(status: int, detail: str, instance: str | None = None, headers: dict | None = None,
            **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem(exc.status, exc.detail, request.url.path, exc.headers, **exc.extra)

    @app.exception_handler(CityHubError)
    async def _hub(request: Request, exc: CityHubError):
        status = status_of(exc)
        headers = None
        if status == 401:  # no token at all: a bare challenge (RFC 6750 section 3.1)
            headers = {"WWW-Authenticate": "Bearer" if isinstance(exc, TokenRequired) else 'Bearer error="invalid_token"'}
        return problem(status, exc.detail, request.url.path, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.url.path}"
        return problem(exc.status_code, detail, request.url.path, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = [{"loc": ".".join(str(x) for x in e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors) or "invalid request"
        return problem(400, detail, request.url.path, errors=errors)
