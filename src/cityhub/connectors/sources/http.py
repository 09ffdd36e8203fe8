"""HTTP sources: one unit per run, every page of the feed since the incremental
cursor, fetched by the paginator the declaration names.

Transient errors (timeouts, connection errors, 5xx, 429) are retried with
backoff; anything else fails the run with a message that names the source.

Pages are fetched with urllib3: a catalogue is ~60 MB of pages, and reading a
response costs urllib3 less than half of httpx's CPU (0.15 s against 0.37 s per
60 MB, measured), CPU the fetching process shares with decoding and landing.
"""
from __future__ import annotations

import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from email.message import Message
from functools import cache
from typing import Protocol
from urllib.parse import urlencode

import urllib3
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from cityhub.connectors.sources.units import Unit, digest, source_url, taken
from cityhub.core.errors import SourceError
from cityhub.core.payloads import Payload
from cityhub.core.settings import Settings
from cityhub.core.time import instant, now_cst
from cityhub.declarations.connectors import ConnectorSpec, HttpSource, Paging

MAX_PAGES = 100_000


class PageCounter(Protocol):
    """What the format knows about a page, cheaply (it is decoded properly later, once)."""

    def items(self, data: bytes) -> int | None:
        """Records on the page (None: it cannot tell)."""

    def total(self, data: bytes) -> int | None:
        """Records in the whole feed, if the first page announces it (SumNum, a total field)."""

    def next_links(self, data: bytes) -> list[str]:
        """A page's ``next`` links; ValueError: the page has none to read."""

    def ahead(self, pages: Iterator[Payload], workers: int | None = None) -> Iterator[Payload]:
        """The pages, passed on as fetched; the format may start decoding them meanwhile."""


@cache
def _tls() -> ssl.SSLContext:
    """The system's CA store (``SSL_CERT_FILE``/``SSL_CERT_DIR`` override it: a city's own
    CA is installed there), built once per process: loading it cost a fixed 70-200 ms
    per client, that is per run."""
    return ssl.create_default_context()


@dataclass(frozen=True)
class Response:
    url: str
    """The URL asked for, query included (what quarantine calls the page)."""
    status: int
    content: bytes
    content_type: str | None

    @property
    def charset(self) -> str | None:
        """The charset the Content-Type declares, if any."""
        if not self.content_type:
            return None
        m = Message()
        m["content-type"] = self.content_type
        return m.get_content_charset()  # (unquoted, lower case; RFC 2231 values decoded)


class StatusError(Exception):
    """The source answered, but not with a page (any status outside 2xx: a redirect is
    not followed, as a feed's address is declared)."""

    def __init__(self, response: Response):
        super().__init__(f"{response.url} answered {response.status}")
        self.response = response


def pool_manager(timeout_s: float, connections: int) -> urllib3.PoolManager:
    """Keep-alive connections, up to ``connections`` per host; compressed answers asked
    for (and decoded) as any HTTP client does; no retries of urllib3's own (``_get``
    retries, with backoff, what is transient)."""
    return urllib3.PoolManager(num_pools=4, maxsize=connections, ssl_context=_tls(),
                               timeout=urllib3.Timeout(timeout_s), retries=False,
                               headers=urllib3.make_headers(accept_encoding=True))


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, urllib3.exceptions.HTTPError):  # connection refused or reset, timeouts
        return True
    return isinstance(exc, StatusError) and (exc.response.status >= 500 or exc.response.status == 429)


@retry(retry=retry_if_exception(_transient), stop=stop_after_attempt(6),
       wait=wait_exponential(multiplier=0.2, max=5), reraise=True)
def _get(client: urllib3.PoolManager, url: str, params: dict | None) -> Response:
    if params:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
    r = client.request("GET", url, redirect=False)
    got = Response(url, r.status, r.data, r.headers.get("content-type"))
    if not 200 <= r.status < 300:
        raise StatusError(got)
    return got


class NextLinkPaginator:
    """Follow each page's ``link`` with relation ``next`` (a FHIR searchset Bundle)."""

    def __init__(self, paging: Paging):
        self.paging = paging

    def pages(self, client: urllib3.PoolManager, url: str, params: dict, counter: PageCounter) -> Iterator[Payload]:
        next_url, next_params, n = url, params, 0
        while next_url and n < MAX_PAGES:
            r = _get(client, next_url, next_params)
            n += 1
            try:
                links = counter.next_links(r.content)
            except ValueError:
                # without its next link the rest of the feed cannot be found: fail the run, say why
                raise SourceError(f"page {n} ({r.url}) is not a JSON Bundle with links: cannot follow "
                                  "the feed past it") from None
            yield Payload(r.url, r.content, r.charset)
            next_url, next_params = (links[0], None) if links else (None, None)


class PageNumberPaginator:
    """``?page=1, 2, ...`` until the announced total is seen, or a short or empty page.
    Once the first page tells how many pages there are, the rest are fetched
    concurrently (in order)."""

    def __init__(self, paging: Paging, parallel: int):
        self.paging, self.parallel = paging, parallel

    def pages(self, client: urllib3.PoolManager, url: str, params: dict, counter: PageCounter) -> Iterator[Payload]:
        page_param, stop_on_empty = self.paging.page_param, self.paging.style != "sumnum"

        def fetch(page: int) -> Payload | None:
            try:
                r = _get(client, url, {**params, page_param: page})
            except StatusError as e:
                if e.response.status == 404 and page > 1:
                    return None  # past the last page
                raise
            got = Payload(r.url, r.content, r.charset)
            got.sha256()  # here, in a fetching thread, beside the others
            return got

        first = fetch(1)
        yield first
        n1 = counter.items(first.data) or 0
        expected = counter.total(first.data)
        page, seen = 2, n1
        if expected is not None and n1 > 0 and self.parallel > 1:
            last = min(-(-expected // n1), MAX_PAGES)
            with ThreadPoolExecutor(self.parallel) as pool:
                for p in pool.map(fetch, range(2, last + 1)):
                    if p is None:
                        break
                    yield p
                    seen += counter.items(p.data) or 0
            page = last + 1
        while n1 and page <= MAX_PAGES and (expected is None or seen < expected):
            p = fetch(page)  # a short page (or none of the above) leaves items to find
            if p is None:
                break
            yield p
            n = counter.items(p.data)
            if n == 0 and stop_on_empty:
                break
            seen += n or 0
            page += 1


def paginator(src: HttpSource) -> NextLinkPaginator | PageNumberPaginator:
    if src.paging.style == "next_link":
        return NextLinkPaginator(src.paging)
    return PageNumberPaginator(src.paging, src.parallel_pages)


def units(spec: ConnectorSpec, cfg: Settings, state: dict, counter: PageCounter,
          as_of: date | None = None) -> Iterator[Unit]:
    """One unit per run: every page of the feed (since the incremental cursor)."""
    src: HttpSource = spec.source
    base = source_url(spec, cfg)
    if not base:
        return
    url = base.rstrip("/") + src.path
    params: dict = {}
    if src.paging.size_param:
        params[src.paging.size_param] = src.paging.page_size
    cursor = state.get("cursor")
    if src.incremental and cursor:
        params[src.incremental.param] = cursor
    fetched_at = now_cst()
    try:
        with pool_manager(src.timeout_s, src.parallel_pages) as pool:
            payloads = list(counter.ahead(paginator(src).pages(pool, url, params, counter), cfg.parse_workers))
    except StatusError as e:
        body = e.response.content[:200].decode("utf-8", "replace")
        raise SourceError(f"{spec.name}: {e.response.url} answered {e.response.status}: {body}") from None
    except urllib3.exceptions.HTTPError as e:
        raise SourceError(f"{spec.name}: {url} unreachable after retries: {e}") from None
    day = as_of or now_cst().date()
    d = digest(payloads)
    key = f"{day.isoformat()}@{cursor or ''}"
    field_name = src.incremental.field if src.incremental else None

    def new_cursor(records: list[dict]) -> str | None:
        """The latest timestamp seen (compared as instants, not as text); values that
        are not timestamps never move the cursor."""
        best = (instant(cursor), cursor) if cursor and instant(cursor) else None
        for r in records:
            v = r.get(field_name)
            t = instant(v) if isinstance(v, str) else None
            if t is not None and (best is None or t > best[0]):
                best = (t, v)
        return best[1] if best else cursor

    unit = Unit(id=f"http:{key}:{d[:16]}", payloads=payloads, as_of=day, mark={"http": {key: d}},
                cursor=new_cursor if field_name else None, delivered_at=fetched_at, last=True)
    if not taken(state, unit):
        yield unit
