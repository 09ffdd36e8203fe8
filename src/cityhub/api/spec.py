"""The OpenAPI description other teams generate clients from.

FastAPI writes most of it from the routes' parameters and response models; this
module adds what it cannot know:

- every error status a route gives, as RFC 9457 ``application/problem+json`` with the
  ``Problem`` schema (routes name theirs with :func:`problems`); FastAPI's own 422 is
  dropped, since request validation answers 400 (``cityhub.api.problems``);
- the OAuth2 client-credentials scheme, token URL ``/v1/token``; routes that take a
  token but do not need one (open data) say so with an empty requirement beside it.
"""
from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from cityhub.api.problems import PROBLEM

TOKEN_URL = "/v1/token"
SCHEME = "ClientCredentials"
"""The security scheme of routes that need a token."""
OPTIONAL_SCHEME = "OptionalClientCredentials"
"""Marks routes where a token is optional; replaced in the spec by ``[{}, {SCHEME: []}]``."""
SCHEME_TEXT = ("OAuth2 client credentials (RFC 6749 section 4.4): POST the client id and secret that "
               "`cityhub clients create` printed to /v1/token (form fields, or HTTP Basic) and send the "
               "`access_token` it answers as `Authorization: Bearer <token>`.")

PROBLEM_SCHEMA = {
    "type": "object",
    "title": "Problem",
    "description": "An error (RFC 9457): what is wrong, in `detail`.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "always about:blank: the status says what kind of error"},
        "title": {"type": "string", "description": "the status's phrase"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what is wrong, for a person"},
        "instance": {"type": "string", "description": "the path asked for"},
        "errors": {"type": "array", "description": "400 for a parameter: each invalid one",
                   "items": {"type": "object", "required": ["loc", "msg"],
                             "properties": {"loc": {"type": "string"}, "msg": {"type": "string"}}}},
        "error": {"type": "string", "description": "the OAuth2 error code (RFC 6749 section 5.2), at /v1/token"},
    },
    "additionalProperties": True,
}

WHY = {
    400: "The request is not valid: a parameter, filter, cursor or body; `detail` says which and why.",
    401: "No token, or one that is not valid (expired, disabled client); `detail` says which.",
    403: "The caller may not do or read this: its role, region or grants do not allow it.",
    404: "No such resource, or none the caller may see.",
    406: "The `Accept` header names no format this route answers in.",
    409: "The request conflicts with the current state (e.g. a grant already decided).",
    410: "The cursor points at a snapshot the lake no longer has: start again without it.",
    429: "Too many requests from this client (or address): retry after `Retry-After` seconds.",
    503: "The hub is not configured to answer this (e.g. its lake or declarations are broken).",
}
HEADERS = {
    401: {"WWW-Authenticate": {"description": "the Bearer challenge (RFC 6750)", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
}

READ = (400, 401, 403, 404, 429)
"""The statuses any authenticated read can give."""
DATA = (*READ, 406, 410)
"""A data route's: also an unavailable format and an expired cursor."""


def problems(*codes: int) -> dict:
    """``responses=`` entries for these error statuses, each a problem+json document."""
    out = {}
    for code in codes:
        entry = {"description": WHY.get(code, HTTPStatus(code).phrase),
                 "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        if code in HEADERS:
            entry["headers"] = HEADERS[code]
        out[code] = entry
    return out


def openapi(app: FastAPI) -> dict:
    """The app's description, built once and cached on it (``app.openapi``)."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemes = components.setdefault("securitySchemes", {})
    schemes.pop(OPTIONAL_SCHEME, None)
    for item in spec.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            op.get("responses", {}).pop("422", None)
            security = op.get("security")
            if security and any(OPTIONAL_SCHEME in s for s in security):
                op["security"] = [{}, {SCHEME: []}]
    app.openapi_schema = spec
    return spec


def install(app: FastAPI) -> None:
    app.openapi = lambda: openapi(app)
