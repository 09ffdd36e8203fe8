"""GB/T 28181 ``Catalog`` responses: decoding and parsing, per the declared encoding.

A page is one ``<Response><CmdType>Catalog</CmdType>...<DeviceList><Item>``
document. Platforms often send GB2312/GB18030; the XML declaration says which,
and is honoured (GB2312 and GBK are read as GB18030, their superset, as real
platforms send characters outside GB2312 under that label). A page that does
not decode in its declared encoding, or is not well-formed, raises
``PageError`` with a reason: the caller quarantines the whole page.
"""
from __future__ import annotations

import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context

import pyarrow as pa
from lxml import etree

from cityhub.core.payloads import Payload, Reject
from cityhub.connectors.formats.decoded import Decoded, Lazy

# Item child -> contract field
ITEM_FIELDS = {
    "DeviceID": "device_id", "Name": "name", "Manufacturer": "manufacturer", "Model": "model",
    "CivilCode": "civil_code", "Address": "address", "ParentID": "parent_id", "Status": "status",
    "Longitude": "longitude", "Latitude": "latitude",
}
INFO_FIELDS = {"Resolution": "resolution_codes"}
COLUMNS = list(ITEM_FIELDS.values()) + list(INFO_FIELDS.values())

_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["'][^>]*\?>""")
_DECL_ANY = re.compile(r"""^\s*<\?xml[^>]*\?>""")
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "cp936": "gb18030", "gb18030": "gb18030"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=True)


class PageError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class CatalogPage:
    platform_id: str | None
    sum_num: int | None
    num: int | None
    items: list  # lxml elements


def declared_encoding(data: bytes) -> str | None:
    m = _DECL.match(data[:200])
    return m.group(1).decode("ascii") if m else None


def page_text(data: bytes, charset_hint: str | None = None) -> str:
    """Text of a page in its declared encoding (else the transport's charset, else UTF-8)."""
    declared = declared_encoding(data) or charset_hint or "UTF-8"
    codec = _SUPERSETS.get(declared.lower(), declared)
    try:
        text = data.decode(codec)
    except LookupError:
        raise PageError("unknown_encoding", f"page declares unknown encoding {declared!r}") from None
    except UnicodeDecodeError as e:
        if e.end >= len(data) - 4 and "incomplete" in e.reason:
            # cut off inside a character: a truncated page, which the XML parser reports
            text = data[:e.start].decode(codec)
        else:
            raise PageError("wrong_encoding",
                            f"page declares {declared} but byte {e.start} is not valid {declared}") from None
    return text.lstrip("\ufeff")


def parse_page(data: bytes, charset_hint: str | None = None) -> CatalogPage:
    text = page_text(data, charset_hint)
    m = _DECL_ANY.match(text, 0, 400)
    body = text[m.end():] if m else text  # lxml takes no declaration on text it did not decode
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as e:
        raise PageError("malformed_xml", f"not well-formed XML: {e}") from None
    if root.tag != "Response" or (root.findtext("CmdType") or "").strip() != "Catalog":
        raise PageError("not_catalog", f"expected <Response><CmdType>Catalog</CmdType>, got <{root.tag}>")
    device_list = root.find("DeviceList")
    items = list(device_list.iterchildren("Item")) if device_list is not None else []
    return CatalogPage(
        platform_id=(root.findtext("DeviceID") or "").strip() or None,
        sum_num=_int(root.findtext("SumNum")),
        num=_int(device_list.get("Num")) if device_list is not None else None,
        items=items,
    )


_POS = {tag: i for i, tag in enumerate(ITEM_FIELDS)}
_INFO_POS = {tag: len(ITEM_FIELDS) + i for i, tag in enumerate(INFO_FIELDS)}


def item_rows(page: CatalogPage) -> list[list[str | None]]:
    """The page's items as rows of text values, in ``COLUMNS`` order (a missing
    element is None). Rows, not dicts: this is the hot loop of catalogue ingest."""
    width = len(COLUMNS)
    pos, info_pos = _POS, _INFO_POS
    rows = []
    for item in page.items:
        row = [None] * width
        for child in item:
            j = pos.get(child.tag)
            if j is not None:
                row[j] = child.text
            elif child.tag == "Info":
                for sub in child:
                    k = info_pos.get(sub.tag)
                    if k is not None:
                        row[k] = sub.text
        rows.append(row)
    return rows


def item_values(item) -> dict[str, str | None]:
    """One ``<Item>`` as text values keyed by contract field."""
    return dict(zip(COLUMNS, item_rows(CatalogPage(None, None, None, [item]))[0]))


_ITEM_OPEN = re.compile(rb"<Item[\s>]")


class RawItems:
    """The raw text of a page's items: what is quarantined for a refused item.
    Found again in the page's bytes rather than kept from the parse, so a large
    catalogue is never held in memory as trees. Searching the bytes is safe in
    the encodings catalogues use (GB18030, GB2312, UTF-8): no multibyte character
    contains the byte ``<``."""

    def __init__(self, data: bytes, charset_hint: str | None = None):
        self.data = data
        declared = declared_encoding(data) or charset_hint or "UTF-8"
        self.codec = _SUPERSETS.get(declared.lower(), declared)
        self.starts = [m.start() for m in _ITEM_OPEN.finditer(data)]

    def __getitem__(self, n: int) -> str:
        start = self.starts[n]
        end = self.data.find(b"</Item>", start)
        chunk = self.data[start:] if end < 0 else self.data[start:end + len(b"</Item>")]
        return chunk.decode(self.codec, errors="replace")


def _int(v: str | None) -> int | None:
    try:
        return int(v.strip()) if v is not None else None
    except ValueError:
        return None


# -- whole fetches --------------------------------------------------------------------

PARALLEL_MIN_PAGES = 40


def _parse_pages(pages: list[tuple[int, str, bytes, str | None]]):
    """Some pages as one Arrow table of text columns plus each row's page and item
    index (``__pi``, ``__ii``); runs in a worker process for large fetches, and
    Arrow is what crosses the process boundary cheaply."""
    rows, pis, iis, platform_ids, errors = [], [], [], [], []
    for pi, source, data, charset in pages:
        try:
            page = parse_page(data, charset)
        except PageError as e:
            errors.append((pi, str(e)))
            continue
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
    return table, errors


def parser_pool(workers: int):
    """Worker processes for parsing, started once per process and reused ("fork":
    "spawn" would re-import the caller's main module, which scripts do not guard)."""
    global _POOL
    if _POOL is None or _POOL[0] != workers:
        _POOL = (workers, ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")))
    return _POOL[1]


_POOL = None


def decode(payloads: list[Payload], workers: int | None = None) -> Decoded:
    """Decode the pages of one catalogue fetch; large fetches are parsed by ``workers``
    processes (default: one per core). Unreadable pages are refused whole."""
    workers = workers or os.cpu_count() or 1
    numbered = [(pi, p.name, p.data, p.charset) for pi, p in enumerate(payloads)]
    if workers <= 1 or len(numbered) < PARALLEL_MIN_PAGES:
        table, errors = _parse_pages(numbered)
    else:
        size = -(-len(numbered) // (workers * 4))
        chunks = [numbered[i:i + size] for i in range(0, len(numbered), size)]
        parts = list(parser_pool(workers).map(_parse_pages, chunks))  # map keeps the chunks' order
        table = pa.concat_tables([t for t, _ in parts])
        errors = sorted(e for _, errs in parts for e in errs)
    rejects = [Reject(source=payloads[pi].name, reason=reason, raw=payloads[pi].data.decode("latin-1"))
               for pi, reason in errors]
    where_pi, where_ii = table["__pi"].to_numpy(), table["__ii"].to_numpy()

    @lru_cache(maxsize=8)
    def raw_items(pi: int) -> RawItems:
        return RawItems(payloads[pi].data, payloads[pi].charset)

    return Decoded(
        records=table.drop_columns(["__pi", "__ii"]),
        sources=Lazy(lambda i: f"{payloads[where_pi[i]].name}#item{where_ii[i] + 1}", table.num_rows),
        raw=lambda i: raw_items(int(where_pi[i]))[int(where_ii[i])],
        rejects=rejects, header=None)
