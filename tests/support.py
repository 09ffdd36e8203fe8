"""Helpers the tests share: API clients and tokens, problem+json checks, paging."""
from __future__ import annotations

import time

from cityhub.access import clients


def token(cfg, decl, name: str, role: str, region: str | None = None, department: str | None = None) -> str:
    """Register a client and issue it a token (as ``cityhub clients create`` + POST /v1/token would)."""
    p, _ = clients.create(cfg, decl, name, role, region, department)
    return clients.issue_token(cfg, p)


def credentials(cfg, decl, name: str, role: str, region: str | None = None,
                department: str | None = None) -> tuple[str, str]:
    """A new client's OAuth2 client id and secret."""
    p, secret = clients.create(cfg, decl, name, role, region, department)
    return p.client_id, secret


def auth(tok: str) -> dict:
    return {"Authorization": f"Bearer {tok}"}


def assert_problem(r, status: int, *words: str) -> None:
    """``r`` is an ``application/problem+json`` answer with ``status`` whose detail names ``words``."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    for w in words:
        assert w in body["detail"], body["detail"]


def all_pages(client, tok: str, url: str, **params) -> list[dict]:
    rows, cursor = [], None
    while True:
        r = client.get(url, headers=auth(tok), params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        rows.extend(body["records"])
        cursor = body["next_cursor"]
        if not cursor:
            return rows


def clear_of_a_minute_turn(seconds: float = 15) -> None:
    """Wait, if fewer than ``seconds`` are left in the clock's minute, until the next one: a rate
    limit per minute (the ``limits`` sliding-window counter, windows aligned on the clock's
    minutes) weighs the last minute's hits down once a minute turns and may let one more
    request through. A test that needs the exact count runs within one minute."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.05)
