"""Where feeds come from. A source yields *units*: one file (or file group), one
HTTP fetch of every page, one chunk of SQL rows. A unit is landed as one batch
and marked taken in the connector's state in the same commit, so a run stopped
anywhere resumes with the first unit not yet committed. (Kafka is consumed by
``connectors.kafka_source``, batch by batch, with its offsets as the state.)

Transient errors (timeouts, connection errors, 5xx) are retried with backoff;
anything else fails the run with a message that names the source.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

import httpx
import orjson
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from connectors import filedrop
from connectors.spec import ConnectorSpec
from hub.config import Settings, connector_setting
from hub.lake import now_cst


class SourceError(RuntimeError):
    """A permanent source problem: the run fails with this message."""


@dataclass
class Payload:
    name: str
    """What to call it in quarantine (file name, URL)."""
    data: bytes
    charset: str | None = None


@dataclass
class Unit:
    id: str
    payloads: list[Payload]
    as_of: date | None
    mark: dict = field(default_factory=dict)
    """State entries that record this unit as taken: {section: {key: digest}}."""
    cursor: Callable[[list[dict]], str | None] | None = None
    """For incremental sources: the new cursor, from the unit's records."""


def _digest(payloads: list[Payload]) -> str:
    h = hashlib.sha256()
    for p in payloads:
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.data).digest())
    return h.hexdigest()


def taken(state: dict, unit: Unit) -> bool:
    return all(state.get(sec, {}).get(k) == v for sec, entries in unit.mark.items() for k, v in entries.items())


def mark_taken(state: dict, unit: Unit, keep: int = 2000) -> dict:
    """The state after ``unit`` (bounded: the oldest marks beyond ``keep`` go)."""
    new = dict(state)
    for sec, entries in unit.mark.items():
        merged = {**state.get(sec, {}), **entries}
        if len(merged) > keep:
            merged = dict(list(merged.items())[-keep:])
        new[sec] = merged
    return new


# -- file drop ----------------------------------------------------------------------


def file_drop_units(spec: ConnectorSpec, cfg: Settings, state: dict) -> Iterator[Unit]:
    """Files in ``drop_root/<folder>`` matching ``pattern``; files whose names share
    the ``group`` regex's match belong together (e.g. the pages of one catalogue
    fetch). Pending groups are landed together, up to ``batch_files`` files and
    256 MB, when neither their day (``as_of: file_day``) nor a per-delivery
    uniqueness (``batch_key``) matters: one validation and one commit instead of
    one per file."""
    from hub.contracts import contract

    max_files = int(spec.source.get("batch_files", 31))
    c = contract(spec.dataset)
    # deliveries combine only when neither their day nor their per-delivery uniqueness matters
    combinable = spec.as_of != "file_day" and c.batch_key == c.key
    pending = _pending_groups(spec, cfg, state)
    while pending:
        take = [pending.pop(0)]
        size = sum(len(p.data) for p in take[0][1])
        while (pending and combinable and len(take) < max_files
               and size + sum(len(p.data) for p in pending[0][1]) <= 256 << 20):
            size += sum(len(p.data) for p in pending[0][1])
            take.append(pending.pop(0))
        payloads = [p for _, ps, _, _ in take for p in ps]
        first, last = take[0][0], take[-1][0]
        yield Unit(id=f"{first}..{last}:{_digest(payloads)[:16]}" if len(take) > 1 else f"{first}:{take[0][2][:16]}",
                   payloads=payloads, as_of=take[0][3], mark={"files": {k: d for k, _, d, _ in take}})


def _pending_groups(spec: ConnectorSpec, cfg: Settings, state: dict) -> list[tuple[str, list[Payload], str, date]]:
    """(group key, payloads, digest, day) of every file group not taken yet, oldest name first."""
    folder = Path(connector_setting(spec.name, "folder", str(cfg.drop_root / spec.source.get("folder", spec.name))))
    group_re = re.compile(spec.source.get("group", r"^.*$"))
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in filedrop.listing(folder, spec.source.get("pattern", "*")):
        m = group_re.search(p.name)
        groups[m.group(0) if m else p.name].append(p)
    pending = []
    for key, paths in sorted(groups.items()):
        payloads = [Payload(p.name, p.read_bytes(), None) for p in paths]
        digest = _digest(payloads)
        if state.get("files", {}).get(key) != digest:
            pending.append((key, payloads, digest, filedrop.day_of(paths[0])))
    return pending


def pending_files(spec: ConnectorSpec, cfg: Settings, state: dict) -> int:
    """Deliveries (files, or file groups) waiting in the drop folder."""
    return len(_pending_groups(spec, cfg, state)) if spec.source.kind == "file_drop" else 0


# -- HTTP ---------------------------------------------------------------------------


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and (exc.response.status_code >= 500
                                                        or exc.response.status_code == 429)


@retry(retry=retry_if_exception(_transient), stop=stop_after_attempt(6),
       wait=wait_exponential(multiplier=0.2, max=5), reraise=True)
def _get(client: httpx.Client, url: str, params: dict | None) -> httpx.Response:
    r = client.get(url, params=params)
    r.raise_for_status()
    return r


def _path(doc, path: str):
    for part in [p for p in path.split(".") if p]:
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def http_url(spec: ConnectorSpec) -> str:
    return connector_setting(spec.name, "url", spec.source.get("url", ""))


def http_units(spec: ConnectorSpec, cfg: Settings, state: dict, count_items: Callable[[bytes], int | None],
               as_of: date | None = None) -> Iterator[Unit]:
    """One unit per run: every page of the feed (since the incremental cursor)."""
    base = http_url(spec)
    if not base:
        return
    url = base.rstrip("/") + spec.source.get("path", "")
    paging = spec.source.get("paging", {}) or {}
    style = paging.get("style", "page")
    size = int(paging.get("page_size", 500))
    incremental = spec.source.get("incremental") or {}
    params: dict = {}
    if paging.get("size_param"):
        params[paging["size_param"]] = size
    cursor = state.get("cursor")
    if incremental and cursor:
        params[incremental["param"]] = cursor
    payloads: list[Payload] = []
    try:
        with httpx.Client(timeout=float(spec.source.get("timeout_s", 30))) as client:
            if style == "next_link":
                next_url, next_params = url, params
                while next_url and len(payloads) < 100_000:
                    r = _get(client, next_url, next_params)
                    payloads.append(Payload(str(r.url), r.content, r.charset_encoding))
                    doc = orjson.loads(r.content)
                    links = [l.get("url") for l in doc.get("link", []) if l.get("relation") == "next"]
                    next_url, next_params = (links[0], None) if links else (None, None)
            else:
                page_param = paging.get("page_param", "page")
                parallel = int(spec.source.get("parallel_pages", 4))

                def fetch(page: int) -> Payload | None:
                    try:
                        r = _get(client, url, {**params, page_param: page})
                    except httpx.HTTPStatusError as e:
                        if e.response.status_code == 404 and page > 1:
                            return None  # past the last page
                        raise
                    return Payload(str(r.url), r.content, r.charset_encoding)

                first = fetch(1)
                payloads.append(first)
                n1 = count_items(first.data) or 0
                if style == "sumnum":
                    expected = _sumnum(first.data)
                elif paging.get("total"):
                    try:
                        expected = int(_path(orjson.loads(first.data), paging["total"]))
                    except (ValueError, TypeError):
                        expected = None
                else:
                    expected = None
                page, seen = 2, n1
                if expected is not None and n1 > 0 and parallel > 1:
                    # the page count is known: fetch the rest concurrently, in order
                    last = min(-(-expected // n1), 100_000)
                    with ThreadPoolExecutor(parallel) as pool:
                        for p in pool.map(fetch, range(2, last + 1)):
                            if p is None:
                                break
                            payloads.append(p)
                            seen += count_items(p.data) or 0
                    page = last + 1
                while n1 and page <= 100_000 and (expected is None or seen < expected):
                    p = fetch(page)  # a short page (or none of the above) leaves items to find
                    if p is None:
                        break
                    payloads.append(p)
                    n = count_items(p.data)
                    if n == 0 and style != "sumnum":
                        break
                    seen += n or 0
                    page += 1
    except httpx.HTTPStatusError as e:
        raise SourceError(f"{spec.name}: {e.request.url} answered {e.response.status_code}: "
                          f"{e.response.text[:200]}") from None
    except httpx.TransportError as e:
        raise SourceError(f"{spec.name}: {url} unreachable after retries: {e}") from None
    day = as_of or now_cst().date()
    digest = _digest(payloads)
    key = f"{day.isoformat()}@{cursor or ''}"
    field_name = incremental.get("field")

    def new_cursor(records: list[dict]) -> str | None:
        """The latest timestamp seen (compared as instants, not as text); values that
        are not timestamps never move the cursor."""
        best = (_instant(cursor), cursor) if cursor and _instant(cursor) else None
        for r in records:
            v = r.get(field_name) if field_name else None
            t = _instant(v) if isinstance(v, str) else None
            if t is not None and (best is None or t > best[0]):
                best = (t, v)
        return best[1] if best else cursor

    unit = Unit(id=f"http:{key}:{digest[:16]}", payloads=payloads, as_of=day, mark={"http": {key: digest}},
                cursor=new_cursor if field_name else None)
    if not taken(state, unit):
        yield unit


def _instant(text: str | None):
    """An ISO-8601 timestamp as an aware datetime (naive text is China time), else None."""
    from datetime import datetime, timedelta, timezone

    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone(timedelta(hours=8)))


def _sumnum(data: bytes) -> int | None:
    from connectors.gb28181 import PageError, parse_page
    try:
        return parse_page(data).sum_num
    except PageError:
        return None


# -- SQL ----------------------------------------------------------------------------


def sql_units(spec: ConnectorSpec, cfg: Settings, state: dict) -> Iterator[Unit]:
    """Rows of a department database, in chunks, after the watermark in the state."""
    from sqlalchemy import create_engine, text

    url = connector_setting(spec.name, "url", spec.source.get("url", ""))
    if not url:
        return
    query, wm = spec.source.get("query"), spec.source.get("watermark")
    chunk = int(spec.source.get("chunk", 50_000))
    cursor = state.get("cursor", spec.source.get("start", ""))
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            rows = [dict(r._mapping) for r in con.execute(text(query), {"cursor": cursor, "limit": chunk})]
    except Exception as e:
        raise SourceError(f"{spec.name}: query failed: {e}") from None
    finally:
        engine.dispose()
    if not rows:
        return
    data = json.dumps(rows, default=str, ensure_ascii=False).encode()
    last = str(rows[-1][wm])
    yield Unit(id=f"sql:{cursor}..{last}", payloads=[Payload(f"sql:{wm}>{cursor}", data, "utf-8")],
               as_of=now_cst().date(), mark={}, cursor=lambda _records, last=last: last)
