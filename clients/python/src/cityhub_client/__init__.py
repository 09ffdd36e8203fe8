"""A small Python client for the CityHub API (``/v1``), for county apps and scripts.

>>> with HubClient("https://hub.example", client_id, client_secret) as hub:
...     for row in hub.records("camera_registry", as_of="ge:2026-11-01"):
...         ...
...     changed = hub.changes("medical_visits", since=saved_since)
...     # insert-or-replace changed.upserts, delete changed.deletes, keep changed.since

It gets an OAuth2 client-credentials token and renews it shortly before it expires
(and once more if the API answers 401), retries 429 and 503 answers after the
``Retry-After`` they carry, and raises :class:`HubError` with the API's
``application/problem+json`` detail for any other error.

Filters are keyword arguments named after the dataset's fields: ``channel="web"``,
``channel="in:web,app"`` (or a list: ``channel=["web", "app"]``), ``date="ge:2026-11-01"``
(also gt, lt, le, ne); ``region``, ``fields`` (a list or comma-separated names),
``order`` and ``limit`` pass through as the API's own parameters.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import pyarrow as pa
import pyarrow.compute as pc
from tenacity import Retrying, retry_if_exception, stop_after_attempt

__all__ = ["Changes", "HubClient", "HubError"]

ARROW = "application/vnd.apache.arrow.stream"
RETRY_STATUS = frozenset({429, 503})


class HubError(Exception):
    """An error answer of the API: its HTTP status and the problem's ``detail``."""

    def __init__(self, status: int, detail: str, title: str | None = None, body: dict | None = None,
                 retry_after: float | None = None):
        super().__init__(f"{status} {title}: {detail}" if title else f"{status}: {detail}")
        self.status, self.detail, self.title, self.body, self.retry_after = status, detail, title, body or {}, retry_after

    @classmethod
    def from_response(cls, r: httpx.Response) -> HubError:
        body: dict = {}
        try:
            parsed = r.json()
            body = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            pass
        detail = str(body.get("detail") or r.text or r.reason_phrase)
        return cls(r.status_code, detail, body.get("title") or r.reason_phrase, body,
                   _retry_after(r.headers.get("retry-after")))


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None


def _param(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        items = ",".join(_param(name, v) for v in value)
        return items if name == "fields" else f"in:{items}"
    return str(value)


def _params(params: dict[str, Any]) -> dict[str, str]:
    return {k: _param(k, v) for k, v in params.items() if v is not None}


def _arrow(content: bytes) -> pa.Table:
    return pa.ipc.open_stream(content).read_all()


@dataclass
class Changes:
    """What changed in a dataset since a cursor, as :meth:`HubClient.changes` gathers it:
    ``upserts`` to insert or replace on ``key``, ``deletes`` (tombstones: the keys of rows
    that are gone), and ``since``, the cursor to pass next time. Within one change set a
    key is either upserted or deleted, so they can be applied in any order.

    With ``format="arrow"`` both are lists of Arrow tables (one per page; ``deletes``
    has the key's columns only), with ``"json"`` lists of dicts. It also unpacks as
    ``rows, since = hub.changes(...)`` (the upserts), as it did before deletes existed."""
    upserts: list = field(default_factory=list)
    deletes: list = field(default_factory=list)
    since: str = ""
    key: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator:
        return iter((self.upserts, self.since))

    @property
    def upserted(self) -> int:
        return sum(t.num_rows for t in self.upserts) if self.upserts and isinstance(self.upserts[0], pa.Table) \
            else len(self.upserts)

    @property
    def deleted(self) -> int:
        return sum(t.num_rows for t in self.deletes) if self.deletes and isinstance(self.deletes[0], pa.Table) \
            else len(self.deletes)


def _split(table: pa.Table, key: list[str]) -> tuple[pa.Table, pa.Table]:
    """A page of changes in Arrow (an ``op`` column first) as (upserts, tombstones' keys)."""
    if "op" not in table.column_names:  # a hub from before deletes: every row is an upsert
        return table, table.select(key).slice(0, 0)
    op = table["op"]
    return (table.filter(pc.equal(op, "upsert")).drop_columns(["op"]),
            table.filter(pc.equal(op, "delete")).select(key))


class HubClient:
    """CityHub API client over ``httpx`` (one per thread; not async).

    ``retries`` is the number of attempts for a 429 or 503 answer; each waits the
    answer's ``Retry-After`` (else an exponential back-off), at most ``max_wait`` s.
    ``transport`` replaces httpx's (tests, proxies)."""

    def __init__(self, base_url: str, client_id: str, client_secret: str, timeout: float = 60.0,
                 retries: int = 5, max_wait: float = 60.0, transport: httpx.BaseTransport | None = None):
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                  headers={"User-Agent": "cityhub-client/1"})
        self._id, self._secret = client_id, client_secret
        self.retries, self.max_wait = retries, max_wait
        self._token: str | None = None
        self._renew_at = 0.0
        self._keys: dict[str, list[str]] = {}

    # -- plumbing ---------------------------------------------------------------------

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _retrying(self) -> Retrying:
        def wait(state) -> float:
            exc = state.outcome.exception()
            hint = getattr(exc, "retry_after", None)
            return min(self.max_wait, hint if hint is not None else 0.5 * 2 ** (state.attempt_number - 1))
        return Retrying(retry=retry_if_exception(lambda e: isinstance(e, HubError) and e.status in RETRY_STATUS),
                        wait=wait, stop=stop_after_attempt(self.retries), reraise=True)

    def _send(self, request: httpx.Request, stream: bool = False) -> httpx.Response:
        r = self._http.send(request, stream=stream)
        if r.is_error:
            if stream:
                r.read()
                r.close()
            raise HubError.from_response(r)
        return r

    def token(self, renew: bool = False) -> str:
        """A valid bearer token, fetched anew when ``renew`` or when it is about to expire."""
        if renew or self._token is None or time.monotonic() >= self._renew_at:
            form = {"grant_type": "client_credentials", "client_id": self._id, "client_secret": self._secret}
            body = self._retrying()(lambda: self._send(self._http.build_request("POST", "/v1/token", data=form))
                                    ).json()
            ttl = float(body.get("expires_in") or 3600)
            self._token, self._renew_at = body["access_token"], time.monotonic() + ttl - min(60.0, ttl / 10)
        return self._token

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                headers: dict[str, str] | None = None, stream: bool = False) -> httpx.Response:
        """Send an authorised request (with retries and one token renewal on 401);
        the response is a success or :class:`HubError` is raised. With ``stream`` the
        caller must close the response."""
        renewed = False

        def attempt() -> httpx.Response:
            nonlocal renewed
            while True:
                h = {**(headers or {}), "Authorization": f"Bearer {self.token()}"}
                req = self._http.build_request(method, path, params=_params(params or {}), json=json, headers=h)
                try:
                    return self._send(req, stream)
                except HubError as e:
                    if e.status != 401 or renewed:
                        raise
                    renewed = True
                    self.token(renew=True)
        return self._retrying()(attempt)

    def _get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    # -- catalogue, indicators, grants ------------------------------------------------

    def catalog(self) -> dict:
        """Departments and the categories (with datasets and fields) this client may see."""
        return self._get("/v1/catalog")

    def indicators(self, **params: Any) -> list[dict]:
        """Latest indicator values (``region=``, ``code=``, ``period=``) with their evidence."""
        return self._get("/v1/indicators", **params)["indicators"]

    def apply_grant(self, category: str, purpose: str, fields: list[str] | None = None,
                    scope: Literal["county", "city"] = "county", days: int = 90) -> dict:
        """Apply for a grant on a category; it stays pending until its owner decides."""
        body = {"category": category, "purpose": purpose, "fields": list(fields or []), "scope": scope, "days": days}
        return self.request("POST", "/v1/grants", json=body).json()

    def grants(self, status: str | None = None) -> list[dict]:
        """Grants this client holds (or decides on), optionally by status."""
        return self._get("/v1/grants", status=status)["grants"]

    # -- records ----------------------------------------------------------------------

    def page(self, dataset: str, cursor: str | None = None, **params: Any) -> dict:
        """One JSON page of records: ``{..., next_cursor, has_more, records}``."""
        return self._get(f"/v1/datasets/{dataset}/records", cursor=cursor, **params)

    def records(self, dataset: str, **filters: Any) -> Iterator[dict]:
        """Every record the filters select, following the pages (all pinned to one snapshot)."""
        cursor = None
        while True:
            body = self.page(dataset, cursor=cursor, **filters)
            yield from body["records"]
            cursor = body.get("next_cursor")
            if not body.get("has_more", cursor is not None):
                return

    def arrow(self, dataset: str, *, bulk: bool = False, limit: int = 10_000, **filters: Any) -> pa.Table:
        """The selected records as one Arrow table: pages in Arrow format, or with
        ``bulk`` a single export stream."""
        if bulk:
            return _arrow(self.request("GET", f"/v1/datasets/{dataset}/export",
                                       params={**filters, "format": "arrow"}).content)
        tables, cursor = [], None
        while True:
            r = self.request("GET", f"/v1/datasets/{dataset}/records",
                             params={**filters, "limit": limit, "cursor": cursor, "format": "arrow"})
            tables.append(_arrow(r.content))
            cursor = r.headers.get("x-next-cursor")
            if r.headers.get("x-has-more", "true" if cursor else "false") != "true" or not cursor:
                return pa.concat_tables(tables)

    def export(self, dataset: str, path: str | os.PathLike, format: Literal["parquet", "arrow", "csv"] = "parquet",
               **filters: Any) -> Path:
        """Stream a bulk export to ``path`` (written to a temporary file, then renamed)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        r = self.request("GET", f"/v1/datasets/{dataset}/export", params={**filters, "format": format}, stream=True)
        try:
            with tmp.open("wb") as f:
                for chunk in r.iter_bytes():
                    f.write(chunk)
        finally:
            r.close()
        tmp.replace(path)
        return path

    # -- incremental sync -------------------------------------------------------------

    def changes(self, dataset: str, since: str | None = None, *, format: Literal["arrow", "json"] = "arrow",
                limit: int = 10_000, **filters: Any) -> Changes:
        """Everything that changed since ``since`` (None: a full copy), following
        ``has_more``: upserts and deletes (tombstones) on :meth:`key`, and the next
        ``since`` (see :class:`Changes`). Apply both, then keep ``Changes.since``."""
        out = Changes()
        while True:
            params = {**filters, "since": since, "limit": limit, "format": format}
            r = self.request("GET", f"/v1/datasets/{dataset}/changes", params=params)
            if format == "arrow":
                key = r.headers.get("x-key", "").split(",") if r.headers.get("x-key") else self.key(dataset)
                self._keys[dataset] = key
                upserts, deletes = _split(_arrow(r.content), key)
                out.upserts.append(upserts)
                out.deletes.append(deletes)
                since, more = r.headers.get("x-next-cursor"), r.headers.get("x-has-more") == "true"
            else:
                body = r.json()
                key = self._keys[dataset] = body["key"]
                out.upserts.extend(body["records"])
                out.deletes.extend(body.get("deleted", []))
                since, more = body["next_cursor"], body["has_more"]
            if not since:
                raise HubError(r.status_code, f"changes of {dataset} came without a next cursor")
            if not more:
                out.since, out.key = since, list(key)
                return out

    def key(self, dataset: str) -> list[str]:
        """The dataset's contract key (the fields to upsert on), as ``/changes`` states it."""
        if dataset not in self._keys:
            self._keys[dataset] = self._get(f"/v1/datasets/{dataset}/changes", limit=1)["key"]
        return self._keys[dataset]
