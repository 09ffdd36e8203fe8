"""Connector: the video sharing platform's GB/T 28181 device catalogue.

Two sources, one mapping: catalogue pages dropped as files
(``catalog_<city>_<YYYYMMDD>_p<NNNN>.xml``, one group per fetch) or pulled over
HTTP page by page (``GET {url}/catalog?page=N`` until ``SumNum`` items are seen).
All pages of one fetch are one batch, so a device repeated on two pages is
caught as a duplicate.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from connectors import filedrop
from connectors.gb28181 import COLUMNS, PageError, RawItems, item_rows, parse_page
from hub.config import Settings
from hub.lake import Lake
from pipelines.landing import Batch, LandReport, Reject, land

DATASET = "camera_catalog"
CONNECTOR = "camera_catalog"
MAX_PAGES = 100_000
PARALLEL_MIN_PAGES = 40


def _parse_pages(pages: list[tuple[int, str, bytes, str | None]]) -> tuple[pa.Table, list, int | None]:
    """Some pages as one Arrow table of text columns plus each row's page and item
    index (``__pi``, ``__ii``); runs in a worker process for large fetches, and
    Arrow is what crosses the process boundary cheaply."""
    rows, pis, iis, platform_ids, rejects = [], [], [], [], []
    sum_num = None
    for pi, source, data, charset in pages:
        try:
            page = parse_page(data, charset)
        except PageError as e:
            rejects.append((pi, str(e)))
            continue
        sum_num = page.sum_num if page.sum_num is not None else sum_num
        page_rows = item_rows(page)
        rows.extend(page_rows)
        pis.extend([pi] * len(page_rows))
        iis.extend(range(len(page_rows)))
        platform_ids.extend([page.platform_id] * len(page_rows))
        del page
    cols = list(zip(*rows)) if rows else [()] * len(COLUMNS)
    table = pa.table({**{c: pa.array(v, pa.string()) for c, v in zip(COLUMNS, cols)},
                      "platform_id": pa.array(platform_ids, pa.string()),
                      "__pi": pa.array(pis, pa.int32()), "__ii": pa.array(iis, pa.int32())})
    return table, rejects, sum_num


@lru_cache(maxsize=4)
def parser_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for parsing, started once per process and reused ("fork":
    "spawn" would re-import the caller's main module, which scripts do not guard)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"))


def _parse_all(pages: list[tuple[str, bytes, str | None]], workers: int) -> tuple[pa.Table, list, int | None]:
    """Parse pages, split over ``workers`` processes when there are many."""
    numbered = [(pi, src, data, cs) for pi, (src, data, cs) in enumerate(pages)]
    if workers <= 1 or len(pages) < PARALLEL_MIN_PAGES:
        return _parse_pages(numbered)
    size = -(-len(numbered) // (workers * 4))
    chunks = [numbered[i:i + size] for i in range(0, len(numbered), size)]
    parts = list(parser_pool(workers).map(_parse_pages, chunks))  # map keeps the chunks' order
    rejects = sorted(r for p in parts for r in p[1])
    sum_num = next((p[2] for p in parts if p[2] is not None), None)
    return pa.concat_tables([p[0] for p in parts]), rejects, sum_num


def build_batch(pages: list[tuple[str, bytes, str | None]], as_of: date, batch_id: str,
                state: dict | None, connector: str = CONNECTOR, workers: int = 1) -> tuple[Batch, list[str]]:
    """Parse ``(source, bytes, charset)`` pages into one batch. Also returns notes
    (e.g. fewer items than ``SumNum``) for the run log."""
    table, page_errors, sum_num = _parse_all(pages, workers)
    rejects = [Reject(source=pages[pi][0], reason=reason, raw=pages[pi][1].decode("latin-1"))
               for pi, reason in page_errors]
    notes = []
    n = table.num_rows
    if sum_num is not None and n < sum_num:
        notes.append(f"catalogue declares SumNum={sum_num} but {n} items were readable")
    where_pi, where_ii = table["__pi"].to_numpy(), table["__ii"].to_numpy()
    text = table.drop_columns(["__pi", "__ii"])
    text = text.append_column("region", pc.utf8_slice_codeunits(text["civil_code"], 0, 6))
    text = text.append_column("as_of", pa.array([as_of.isoformat()] * n, pa.string()))

    def source(i: int) -> str:
        return f"{pages[where_pi[i]][0]}#item{where_ii[i] + 1}"

    @lru_cache(maxsize=8)
    def raw_items(pi: int) -> RawItems:
        return RawItems(pages[pi][1], pages[pi][2])

    def raw(i: int) -> str:
        return raw_items(int(where_pi[i]))[int(where_ii[i])]

    return Batch(connector=connector, dataset=DATASET, batch_id=batch_id, text=text,
                 sources=_Lazy(source, n), raw=raw, rejects=rejects, state=state), notes


class _Lazy(Sequence):
    """A sequence computed on access: source names are needed only for refused rows."""

    def __init__(self, fn, n: int):
        self.fn, self.n = fn, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.fn(j) for j in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return self.fn(i % self.n)


def ingest_drop(lake: Lake, cfg: Settings, folder: Path | None = None) -> LandReport:
    """Land every catalogue fetch in the drop folder that is not taken yet."""
    folder = folder or cfg.drop_root / "cameras" / "catalog"
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in filedrop.listing(folder, "*.xml"):
        groups[p.name.rsplit("_p", 1)[0]].append(p)
    report = LandReport(dataset=DATASET, batch_id="drop")
    for group, paths in sorted(groups.items()):
        state = lake.state(DATASET, CONNECTOR)
        taken = state.get("files", {})
        digest = filedrop.combined_sha(paths)
        if taken.get(group) == digest:
            continue
        pages = [(p.name, p.read_bytes(), None) for p in paths]
        new_state = {**state, "files": {**taken, group: digest}}
        batch, _ = build_batch(pages, filedrop.day_of(paths[0]), f"{group}:{digest[:16]}", new_state,
                               workers=cfg.parse_workers)
        report.add(land(lake, batch, cfg.city))
    return report


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code >= 500


@retry(retry=retry_if_exception(_transient), stop=stop_after_attempt(5),
       wait=wait_exponential(multiplier=0.2, max=5), reraise=True)
def _get(client: httpx.Client, url: str, page: int) -> httpx.Response | None:
    r = client.get(f"{url.rstrip('/')}/catalog", params={"page": page})
    if r.status_code == 404:
        return None
    r.raise_for_status()
    return r


def fetch_pages(url: str, timeout: float = 30.0) -> list[tuple[str, bytes, str | None]]:
    """All pages of one catalogue fetch. The page count comes from the first
    readable page's ``SumNum`` and item count; a 404 also ends the fetch."""
    pages = []
    expected = None
    with httpx.Client(timeout=timeout) as client:
        page = 1
        while page <= MAX_PAGES and (expected is None or page <= expected):
            r = _get(client, url, page)
            if r is None:
                break
            data = r.content
            pages.append((f"{url.rstrip('/')}/catalog?page={page}", data, r.charset_encoding))
            if expected is None:
                try:
                    p = parse_page(data, r.charset_encoding)
                    if p.sum_num is not None and p.items:
                        expected = max(1, math.ceil(p.sum_num / len(p.items)))
                except PageError:
                    pass
            page += 1
    return pages


def ingest_http(lake: Lake, cfg: Settings, url: str, as_of: date) -> LandReport:
    """Pull the whole catalogue over HTTP and land it as of ``as_of``; the same
    content pulled again for the same day adds nothing."""
    pages = fetch_pages(url)
    digest = hashlib.sha256(b"".join(d for _, d, _ in pages)).hexdigest()
    state = lake.state(DATASET, CONNECTOR)
    key = f"http:{as_of.isoformat()}"
    if state.get("http", {}).get(key) == digest:
        return LandReport(dataset=DATASET, batch_id=f"{key}:{digest[:16]}")
    new_state = {**state, "http": {**state.get("http", {}), key: digest}}
    batch, _ = build_batch(pages, as_of, f"{key}:{digest[:16]}", new_state, workers=cfg.parse_workers)
    return land(lake, batch, cfg.city)
