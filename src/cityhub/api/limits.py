"""Per-client rate limits (the ``limits`` library, sliding window counter: two
counters per client, where a moving window keeps every hit of the last minute and
spent more CPU trimming them than a page costs).

Keyed by the token's client (its signature is checked here; the client row is
checked by the route), or by the caller's address for open data without a token.
``POST /v1/token`` also counts failed requests per client id (``token_allowed``).
Storage is per process by default (``memory://``: each API worker counts on its
own); point ``CITYHUB_RATE_LIMIT_STORAGE`` at Redis or Valkey (``redis://...`` or
``valkey://...``, both served by the ``valkey`` client of the ``redis`` extra) to share the
count between workers and hosts. The check is async: it runs on the event loop without a thread hop.
"""
from __future__ import annotations

import time

import anyio.to_thread
from fastapi import Request
from limits import parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from cityhub.access import session
from cityhub.access.clients import exchange, verified_claims
from cityhub.api.problems import Problem
from cityhub.core.errors import Unauthorized
from cityhub.core.settings import Settings


def limiter(storage: str) -> SlidingWindowCounterRateLimiter:
    """A limiter over the configured storage, in its async variant (``memory://`` becomes
    ``async+memory://``): the check runs on the event loop, not in a thread. One per app,
    made by the app factory, so that two apps in one process do not share counts."""
    uri = storage if storage.startswith("async+") else f"async+{storage}"
    options = {}
    if uri.split("://", 1)[0] in ("async+redis", "async+rediss", "async+redis+sentinel", "async+redis+cluster"):
        options["implementation"] = "valkey"  # the valkey client speaks to Redis too; coredis would not install beside Airflow
    return SlidingWindowCounterRateLimiter(storage_from_string(uri, **options))


def _client_key(cfg: Settings, request: Request) -> str | None:
    tok, _ = session.presented(request.headers.get("authorization"), request.cookies)  # a browser's cookie too
    if tok is None:
        return None
    try:
        return f"client:{verified_claims(cfg, tok)['sub']}"
    except Unauthorized:
        return None  # the route refuses it


async def rate_limit(request: Request) -> None:
    cfg: Settings = request.app.state.hub.cfg
    key = _client_key(cfg, request)
    if key is None:
        key, rule = f"addr:{request.client.host if request.client else '?'}", parse(cfg.open_rate_limit)
    else:
        rule = parse(cfg.rate_limit)
    lim = request.app.state.hub.limiter
    if not await lim.hit(rule, key):
        reset, _ = await lim.get_window_stats(rule, key)
        wait = max(1, int(reset - time.time()))
        raise Problem(429, f"rate limit of {rule} exceeded for this client: retry in {wait}s",
                      {"Retry-After": str(wait)})


# -- POST /v1/token: failed attempts per client id -------------------------------------------

def _token_key(client_id: str) -> str:
    return f"token:{client_id}"


async def token_allowed(request: Request, client_id: str) -> None:
    """A 429 with ``Retry-After`` when ``client_id`` has used up its failed token requests
    (``CITYHUB_TOKEN_RATE_LIMIT``) in the configured storage, so across every worker
    sharing it; asked before the secret is checked, so guessing stops there, and the
    same for an id that does not exist (the answer tells nothing about which do)."""
    rule, lim = parse(request.app.state.hub.cfg.token_rate_limit), request.app.state.hub.limiter
    key = _token_key(client_id)
    if not await lim.test(rule, key):
        reset, _ = await lim.get_window_stats(rule, key)
        wait = max(1, int(reset - time.time()))
        raise Problem(429, f"too many failed token requests for this client id (limit {rule}): retry in {wait}s",
                      {"Retry-After": str(wait)}, error="slow_down")


async def token_failed(request: Request, client_id: str) -> None:
    """Count a failed token request of ``client_id``."""
    await request.app.state.hub.limiter.hit(parse(request.app.state.hub.cfg.token_rate_limit), _token_key(client_id))


async def exchange_checked(request: Request, client_id: str, client_secret: str, challenge: str) -> tuple[str, int]:
    """A client's credentials for a token and its lifetime, as ``POST /v1/token`` and the
    pages' sign-in (``POST /v1/session``) both take them: refused with 429 once the id has
    used up its failed attempts, a wrong secret counted as one and answered 401 with the
    route's ``WWW-Authenticate`` ``challenge``."""
    await token_allowed(request, client_id)
    try:  # in a thread: checking the secret is a scrypt
        return await anyio.to_thread.run_sync(exchange, request.app.state.hub.cfg, client_id, client_secret)
    except Unauthorized as e:
        await token_failed(request, client_id)
        raise Problem(401, e.detail, {"WWW-Authenticate": challenge}, error="invalid_client") from None
