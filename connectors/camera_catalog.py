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
from datetime import date
from pathlib import Path

import httpx
import pyarrow as pa
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from connectors import filedrop
from connectors.gb28181 import COLUMNS, PageError, item_raw, item_values, parse_page
from hub.config import Settings
from hub.lake import Lake
from pipelines.landing import Batch, LandReport, Reject, land

DATASET = "camera_catalog"
CONNECTOR = "camera_catalog"
MAX_PAGES = 100_000


def build_batch(pages: list[tuple[str, bytes, str | None]], as_of: date, batch_id: str,
                state: dict | None, connector: str = CONNECTOR) -> tuple[Batch, list[str]]:
    """Parse ``(source, bytes, charset)`` pages into one batch. Also returns notes
    (e.g. fewer items than ``SumNum``) for the run log."""
    cols: dict[str, list] = {c: [] for c in COLUMNS}
    sources, elements, rejects, notes = [], [], [], []
    platform_ids: list[str | None] = []
    sum_num = None
    for source, data, charset in pages:
        try:
            page = parse_page(data, charset)
        except PageError as e:
            rejects.append(Reject(source=source, reason=str(e), raw=data.decode("latin-1")))
            continue
        sum_num = page.sum_num if page.sum_num is not None else sum_num
        for i, item in enumerate(page.items):
            values = item_values(item)
            for c in COLUMNS:
                cols[c].append(values.get(c))
            sources.append(f"{source}#item{i + 1}")
            elements.append(item)
            platform_ids.append(page.platform_id)
    seen = len(elements) + 0
    if sum_num is not None and seen < sum_num:
        notes.append(f"catalogue declares SumNum={sum_num} but {seen} items were readable")
    cols["region"] = [(c or "")[:6] or None for c in cols["civil_code"]]
    cols["platform_id"] = platform_ids
    cols["as_of"] = [as_of.isoformat()] * len(elements)
    text = pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})
    return Batch(connector=connector, dataset=DATASET, batch_id=batch_id, text=text, sources=sources,
                 raw=lambda i: item_raw(elements[i]), rejects=rejects, state=state), notes


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
        batch, _ = build_batch(pages, filedrop.day_of(paths[0]), f"{group}:{digest[:16]}", new_state)
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
    batch, _ = build_batch(pages, as_of, f"{key}:{digest[:16]}", new_state)
    return land(lake, batch, cfg.city)
