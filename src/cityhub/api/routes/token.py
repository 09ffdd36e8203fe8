"""OAuth2 client credentials (RFC 6749 section 4.4)."""
from __future__ import annotations

import base64
from typing import Annotated, Literal
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, Field

from cityhub.api.limits import exchange_checked, rate_limit
from cityhub.api.problems import Problem
from cityhub.api.spec import problems

router = APIRouter(tags=["auth"])


class TokenOut(BaseModel):
    """An access token (RFC 6749 section 5.1)."""
    access_token: str = Field(description="send it as `Authorization: Bearer <access_token>`")
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds until it expires: then ask for a new one")


@router.post("/v1/token", response_model=TokenOut, responses=problems(400, 401, 429),
             summary="OAuth2 client credentials: a short-lived bearer token",
             dependencies=[Depends(rate_limit)])
async def token(
    request: Request,
    grant_type: Annotated[str, Form(pattern=r"^client_credentials$")],
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
):
    """The client's id and secret in the form, or as HTTP Basic auth. Failed requests are
    counted per client id across workers (``CITYHUB_TOKEN_RATE_LIMIT``, then 429 with
    ``Retry-After``); an unknown id costs the time a wrong secret does."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic ") and not client_id:
        try:
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            client_id, client_secret = unquote(client_id), unquote(client_secret)
        except ValueError:
            raise Problem(400, "Authorization: Basic must be base64 of client_id:client_secret",
                          error="invalid_request") from None
    if not client_id or not client_secret:
        raise Problem(400, "send client_id and client_secret (form fields or HTTP Basic)", error="invalid_request")
    tok, ttl = await exchange_checked(request, client_id, client_secret, challenge="Basic")
    return {"access_token": tok, "token_type": "Bearer", "expires_in": ttl}
