"""GB/T 28181 ``Catalog`` responses and notifications: decoding and parsing, per the
declared encoding.

A page is one ``<Response><CmdType>Catalog</CmdType>...<DeviceList><Item>``
document, or a ``<Notify>`` of the same shape whose items carry an ``Event``
(ADD, DEL, UPDATE, ON, OFF, VLOST, DEFECT). Element names are matched in any
case: platforms send ``<item>``, ``<deviceid>`` as well as the standard's
spelling, and an item lost to a spelling would pass unnoticed. Platforms often
send GB2312/GB18030; the XML declaration says which, and is honoured (GB2312
and GBK are read as GB18030, their superset, as real platforms send characters
outside GB2312 under that label). A page that does
not decode in its declared encoding, or is not well-formed, raises
``PageError`` with a reason: the caller quarantines the whole page. A page in the
standard's own plain shape is read straight into Arrow by xml2arrow
(:mod:`gb28181_columns`), any other by lxml: both give the same rows.
"""
from __future__ import annotations

import os
import re
import weakref
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from multiprocessing import get_context

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from cityhub.connectors.formats import gb28181_columns
from cityhub.connectors.formats.decoded import Decoded, Lazy
from cityhub.connectors.parsing import acyclic
from cityhub.core.payloads import Ahead, Payload, Reject, ahead_of

# Item child -> contract field
ITEM_FIELDS = {
    "DeviceID": "device_id", "Name": "name", "Manufacturer": "manufacturer", "Model": "model",
    "CivilCode": "civil_code", "Address": "address", "ParentID": "parent_id", "Status": "status",
    "Longitude": "longitude", "Latitude": "latitude", "Event": "event",
}
INFO_FIELDS = {"Resolution": "resolution_codes"}
COLUMNS = list(ITEM_FIELDS.values()) + list(INFO_FIELDS.values())

_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["'][^>]*\?>""")
_DECL_ANY = re.compile(r"""^\s*<\?xml[^>]*\?>""")
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "cp936": "gb18030", "gb18030": "gb18030"}
# collect_ids=False: no table of xml:id attributes, which nothing here looks up (a sixth of the parse)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=True,
                          remove_comments=True, remove_pis=True, collect_ids=False)
KINDS = ("response", "notify")


class PageError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class CatalogPage:
    kind: str  # "response" or "notify"
    platform_id: str | None
    sn: str | None
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
    return _page_of(page_body(data, charset_hint))


def page_body(data: bytes, charset_hint: str | None = None) -> str:
    """The page's text without its XML declaration (lxml takes none on text it did not decode)."""
    text = page_text(data, charset_hint)
    m = _DECL_ANY.match(text, 0, 400)
    return text[m.end():] if m else text


def _page_of(body: str, utf8: bytes | None = None) -> CatalogPage:
    root = _tree(body, utf8)
    kind = root.tag.lower()
    if kind not in KINDS or (_text(root, "cmdtype") or "").strip().lower() != "catalog":
        raise PageError("not_catalog",
                        f"expected <Response> or <Notify> with <CmdType>Catalog</CmdType>, got <{root.tag}>")
    device_list = _child(root, "devicelist")
    items = [c for c in device_list if c.tag.lower() == "item"] if device_list is not None else []
    num = None if device_list is None else next((v for k, v in device_list.attrib.items() if k.lower() == "num"), None)
    return CatalogPage(
        kind=kind,
        platform_id=(_text(root, "deviceid") or "").strip() or None,
        sn=(_text(root, "sn") or "").strip() or None,
        sum_num=_int(_text(root, "sumnum")),
        num=_int(num),
        items=items,
    )


@dataclass(frozen=True)
class Head:
    """What a page announces and holds, as :func:`parse_page` reads it: paging needs no more."""
    sum_num: int | None
    items: int


def head(data: bytes, charset_hint: str | None = None) -> Head | None:
    """The page's SumNum and item count; None: :func:`parse_page` refuses the page. Read
    once per page: on an HTTP fetch the first page's is asked for by the read-ahead (is the
    fetch large?) and then by the paginator (how many pages?)."""
    return _head(data, declared_encoding(data) or charset_hint or "UTF-8")


@lru_cache(maxsize=2)
def _head(data: bytes, encoding: str) -> Head | None:
    try:
        page = _page_columns(data, encoding)  # (the declaration wins over the hint, as there)
    except PageError:
        return None
    return Head(page.sum_num, page.rows)


def _utf8(body: str) -> bytes | None:
    """The page as UTF-8, libxml2's own encoding (a str costs lxml a conversion: a third
    more parse time); None: it cannot be encoded, and is parsed as text."""
    if body.startswith("\ufeff"):
        return None
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:
        return None


def _tree(body: str, utf8: bytes | None = None):
    """The page's element tree, parsed from its UTF-8 (``utf8``, else encoded here); should
    that fail, the text is parsed as it is, so a page that is not well-formed is reported
    exactly as before."""
    utf8 = utf8 if utf8 is not None else _utf8(body)
    if utf8 is not None:
        try:
            return etree.fromstring(utf8, _PARSER)
        except etree.XMLSyntaxError:
            pass
    try:
        return etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as e:
        raise PageError("malformed_xml", f"not well-formed XML: {e}") from None


def _child(el, lower_tag: str):
    """The first child whose name is ``lower_tag`` in any case."""
    return next((c for c in el if c.tag.lower() == lower_tag), None)


def _text(el, lower_tag: str) -> str | None:
    c = _child(el, lower_tag)
    return c.text if c is not None else None


_POS = {t: i for i, tag in enumerate(ITEM_FIELDS) for t in (tag, tag.lower())}
_INFO_POS = {t: len(ITEM_FIELDS) + i for i, tag in enumerate(INFO_FIELDS) for t in (tag, tag.lower())}
_INFO, _OTHER = -1, -2
# Item children the contract does not take, in the standard's spelling, and Info: found
# in one look-up instead of two (the standard's spelling, then lower case)
_LOOKUP = {**_POS, "Info": _INFO, **dict.fromkeys((
    "Owner", "Block", "Parental", "SafetyWay", "RegisterWay", "CertNum", "Certifiable", "ErrCode",
    "EndTime", "Secrecy", "IPAddress", "Port", "Password", "BusinessGroupID"), _OTHER)}


def item_rows(page: CatalogPage) -> list[list[str | None]]:
    """The page's items as rows of text values, in ``COLUMNS`` order (a missing
    element is None, an empty one ""). Rows, not dicts: this is the hot loop of
    catalogue ingest."""
    width = len(COLUMNS)
    pos, info_pos, lookup = _POS, _INFO_POS, _LOOKUP
    rows = []
    for item in page.items:
        row = [None] * width
        for child in item:
            tag = child.tag
            j = lookup.get(tag)  # the standard's spelling first: lower-casing every name cost a tenth of ingest
            if j is None:
                tag = tag.lower()
                j = pos.get(tag)
                if j is None and tag == "info":
                    j = _INFO
            if j is None or j == _OTHER:
                continue
            if j >= 0:
                row[j] = child.text or ""  # sent empty is not the same as not sent (None)
            else:
                for sub in child:
                    k = info_pos.get(sub.tag)
                    if k is None:
                        k = info_pos.get(sub.tag.lower())
                    if k is not None:
                        row[k] = sub.text
        rows.append(row)
    return rows


def item_values(item) -> dict[str, str | None]:
    """One ``<Item>`` as text values keyed by contract field."""
    return dict(zip(COLUMNS, item_rows(CatalogPage("response", None, None, None, None, [item]))[0]))


_ITEM_CLOSE = re.compile(rb"</[Ii][Tt][Ee][Mm]\s*>")


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
        self.starts = _item_starts(data)

    def __getitem__(self, n: int) -> str:
        start = int(self.starts[n])
        end = _ITEM_CLOSE.search(self.data, start)
        chunk = self.data[start:] if end is None else self.data[start:end.end()]
        return chunk.decode(self.codec, errors="replace")


_BLANK_OR_GT = np.frombuffer(b" \t\n\r\f\v>", np.uint8)


def _item_starts(data: bytes) -> np.ndarray:
    """Where each ``<Item`` start tag (any case, then a blank or ``>``) begins, found with
    numpy: the regex ``<[Ii][Tt][Ee][Mm][\\s>]`` over every page of a catalogue cost a
    tenth of its landing."""
    a = np.frombuffer(data, np.uint8)
    at = np.flatnonzero(a == ord("<"))
    at = at[at + 5 < len(a)]
    for k, letter in enumerate(b"item", 1):  # ASCII upper case is lower case less 0x20
        at = at[(a[at + k] | 0x20) == letter]
    return at[np.isin(a[at + 5], _BLANK_OR_GT)]


def item_count(data: bytes) -> int:
    """``Item`` start tags on a page (element names in any case: ``<Item`` cannot occur
    inside a multibyte character of GB18030, GB2312 or UTF-8), without parsing it: a
    third of the time of lower-casing the page and counting."""
    return len(_item_starts(data))


def _int(v: str | None) -> int | None:
    try:
        return int(v.strip()) if v is not None else None
    except ValueError:
        return None


def shortfall(tallies: list[tuple[int, int | None, int]]) -> str | None:
    """Why a delivery (its pages' ``(page, SumNum, items)``) is incomplete, if it is."""
    announced = next((s for _, s, _ in sorted(tallies) if s is not None), None)
    seen = sum(n for _, _, n in tallies)
    if announced is None or seen >= announced:
        return None
    return f"incomplete_delivery: {seen} of the {announced} items its SumNum announces"


# -- whole fetches --------------------------------------------------------------------

PARALLEL_MIN_PAGES = 40


_DIRECTORY_TYPES = {"200": "system", "215": "business_group", "216": "virtual_organisation"}
_REGION_LENGTHS = (2, 4, 6, 8)
_ID_LENGTH, _TYPE_CODE = 20, slice(10, 13)
"""(the rules :func:`directory_kind` and :func:`directory_column` both apply)"""


def directory_kind(device_id: str | None) -> str | None:
    """What a catalogue item that structures the catalogue rather than being a device
    is: an administrative region (a 2-8 digit code), or, by the type code of a 20-digit
    ID (digits 11-13), a system (200), business group (215) or virtual organisation
    (216); None for a device."""
    v = (device_id or "").strip()
    if not v.isdigit():
        return None
    if len(v) in _REGION_LENGTHS:
        return "region"
    return _DIRECTORY_TYPES.get(v[_TYPE_CODE]) if len(v) == _ID_LENGTH else None


def is_directory(device_id: str | None) -> bool:
    return directory_kind(device_id) is not None


_PY_ASCII_WHITESPACE = "".join(c for c in map(chr, range(128)) if c.isspace())
"""What ``str.strip`` takes off an ASCII string (the file and group separators too)."""


def directory_column(ids: pa.Array) -> pa.Array:
    """:func:`is_directory` of each ID, in Arrow where the IDs are ASCII (then Arrow's
    whitespace and digits are Python's), else one by one."""
    if pc.all(pc.string_is_ascii(ids.fill_null(""))).as_py() is False:
        return pa.array(list(map(is_directory, ids.to_pylist())), pa.bool_())
    v = pc.ascii_trim(ids, characters=_PY_ASCII_WHITESPACE)
    n, digits = pc.utf8_length(v), pc.ascii_is_decimal(v)
    region = pc.and_(digits, pc.is_in(n, pa.array(_REGION_LENGTHS, n.type)))
    typed = pc.and_(pc.and_(digits, pc.equal(n, _ID_LENGTH)),
                    pc.is_in(pc.utf8_slice_codeunits(v, _TYPE_CODE.start, _TYPE_CODE.stop),
                             pa.array(list(_DIRECTORY_TYPES))))
    return pc.or_(region, typed).fill_null(False)


STATUS_EVENTS = {"ON", "OFF", "VLOST", "DEFECT"}


def is_status_event(event: str | None) -> bool:
    """A Notify item that reports a device's state (on, off, video lost, faulty), not a
    change of the catalogue (ADD, DEL, UPDATE)."""
    return (event or "").strip().upper() in STATUS_EVENTS


def status_event_column(events: pa.Array) -> pa.Array:
    """:func:`is_status_event` of each item's ``Event`` (False where there is none), in
    Arrow where the events are ASCII (as :func:`directory_column`), else one by one."""
    if pc.all(pc.string_is_ascii(events.fill_null(""))).as_py() is False:
        return pa.array([e is not None and is_status_event(e) for e in events.to_pylist()], pa.bool_())
    v = pc.ascii_upper(pc.ascii_trim(events, characters=_PY_ASCII_WHITESPACE))
    return pc.is_in(v, pa.array(sorted(STATUS_EVENTS))).fill_null(False)


def _parse_pages(pages: list[tuple[int, str, bytes, str | None]], kind: str = "response"):
    """Some pages (``(page index, name, bytes, charset)``) as one Arrow table of text
    columns plus each row's page and item index (``__pi``, ``__ii``) and what the item is
    (``__directory``, ``__status_event``): every item of the message ``kind`` (a Catalog
    ``response`` or ``notify``), so that one parse serves every connector that lands a
    delivery (devices and directory items alike); the refused pages' reasons; each read
    page's SumNum and item count."""
    return _assembled([_read_pages(pages, kind)])


@dataclass(frozen=True)
class _Part:
    """Pages read, as they cross back from a worker process (Arrow crosses cheaply): their
    items' text columns, in page order, and per page what :func:`_assembled` needs."""
    columns: pa.Table
    """A text column per ``COLUMNS`` name, the read pages' items one after the other."""
    read: list[tuple[int, int, str | None, str | None]]
    """Per read page: (page index, items, platform ID, SN)."""
    errors: list[tuple[int, str]]
    """Per refused page: (page index, reason)."""
    tallies: list[tuple[int, int | None, int]]
    """Per read page: (page index, SumNum, items)."""

    def as_page(self, pi: int) -> _Part:
        """A single page read on its own (as page 0) as page ``pi`` of its delivery."""
        return _Part(self.columns, [(pi, *r[1:]) for r in self.read], [(pi, e) for _, e in self.errors],
                     [(pi, *t[1:]) for t in self.tallies])


def _read_pages(pages: list[tuple[int, str, bytes, str | None]], kind: str) -> _Part:
    """The reading of :func:`_parse_pages`, the part a worker process does for a large
    fetch, page by page as they arrive: the columns that follow from the items (which
    page, which item, directory or device) are made once for the whole delivery, in
    Arrow, rather than once per page (a sixth of the workers' CPU). The cycle collector
    pauses meanwhile: rows are acyclic, and its passes over a forked worker's inherited
    heap cost more than the parse (see ``connectors.parsing``)."""
    with acyclic():
        chunks, errors, tallies, read = [], [], [], []
        for pi, source, data, charset in pages:
            try:
                page = _page_columns(data, charset)
            except PageError as e:
                errors.append((pi, str(e)))
                continue
            if page.kind != kind:
                errors.append((pi, f"wrong_message: expected a Catalog <{kind.title()}>, got <{page.kind.title()}>"))
                continue
            tallies.append((pi, page.sum_num, page.rows))
            chunks.append(page.columns)
            read.append((pi, page.rows, page.platform_id, page.sn))
        columns = pa.table({c: pa.chunked_array([ch[c] for ch in chunks], pa.string()) for c in COLUMNS})
        return _Part(columns, read, errors, tallies)


def _assembled(parts: list[_Part]):
    """The parse of :func:`_parse_pages` from its parts: one chunk per column (compute
    over hundreds of small chunks, as take and filter do downstream, costs more), in page
    order, with the columns that follow from the items."""
    cols = pa.concat_tables([p.columns for p in parts]).combine_chunks() if parts \
        else pa.table({c: pa.array([], pa.string()) for c in COLUMNS})
    read = [r for p in parts for r in p.read]
    counts = np.array([n for _, n, _, _ in read], np.int64)
    which = np.repeat(np.arange(len(read)), counts)  # each row's position in ``read``
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    per_page = {name: pa.array([r[k] for r in read], t) for name, k, t in
                (("platform_id", 2, pa.string()), ("sn", 3, pa.string()), ("__pi", 0, pa.int32()))}
    events = cols["event"]
    table = pa.table({**{c: cols[c] for c in COLUMNS},
                      "platform_id": per_page["platform_id"].take(which), "sn": per_page["sn"].take(which),
                      "__pi": per_page["__pi"].take(which),
                      "__ii": pa.array((np.arange(int(counts.sum())) - starts).astype(np.int32)),
                      "__directory": directory_column(cols["device_id"].combine_chunks()),
                      "__status_event": status_event_column(events.combine_chunks())})
    pis = table["__pi"].to_numpy()
    if len(pis) and (np.diff(pis) < 0).any():  # pages parsed ahead and here: back in page order
        table = table.take(pc.sort_indices(table, [("__pi", "ascending"), ("__ii", "ascending")]))
    return (table, sorted(e for p in parts for e in p.errors), sorted(t for p in parts for t in p.tallies))


@dataclass(frozen=True)
class _PageColumns:
    """A read page: what it announces, and its items as a text column per ``COLUMNS`` name."""
    kind: str
    platform_id: str | None
    sn: str | None
    sum_num: int | None
    rows: int
    columns: dict[str, pa.Array]


_STANDARD_NAMES = {**ITEM_FIELDS, **{f"Info_{tag}": col for tag, col in INFO_FIELDS.items()}}
"""xml2arrow's column (``gb28181_columns``) -> contract field."""


def _page_columns(data: bytes, charset: str | None) -> _PageColumns:
    """A page read by xml2arrow where it is in the standard's plain shape (less than half
    lxml's CPU: :mod:`gb28181_columns`), else by lxml; PageError: refused whole."""
    body = page_body(data, charset)
    utf8 = _utf8(body)
    fast = gb28181_columns.read(body, utf8) if utf8 is not None else None
    if fast is not None and (fast.head["CmdType"] or "").strip().lower() == "catalog":
        head = fast.head
        return _PageColumns(kind=fast.kind, platform_id=(head["DeviceID"] or "").strip() or None,
                            sn=(head["SN"] or "").strip() or None, sum_num=_int(head["SumNum"]),
                            rows=fast.items.num_rows,
                            columns={col: fast.items[tag].combine_chunks() for tag, col in _STANDARD_NAMES.items()})
    page = _page_of(body, utf8)
    rows = item_rows(page)
    values = list(zip(*rows)) if rows else [()] * len(COLUMNS)
    return _PageColumns(kind=page.kind, platform_id=page.platform_id, sn=page.sn, sum_num=page.sum_num,
                        rows=len(rows), columns={c: pa.array(v, pa.string()) for c, v in zip(COLUMNS, values)})


class _LastParse:
    """The parse of the last delivery decoded, for the next connector that lands the same
    delivery (its ``also``): a 100k-device catalogue is parsed once, not once per dataset.
    Valid only for the very same payload objects."""

    def __init__(self):
        self.payloads: list[weakref.ref] = []
        self.kind = ""
        self.result = None

    def get(self, payloads: list[Payload], kind: str):
        if (self.result is not None and kind == self.kind and len(payloads) == len(self.payloads)
                and all(r() is p for r, p in zip(self.payloads, payloads))):
            return self.result
        return None

    def put(self, payloads: list[Payload], kind: str, result) -> None:
        self.payloads, self.kind, self.result = [weakref.ref(p) for p in payloads], kind, result


_LAST = _LastParse()


def parser_pool(workers: int):
    """Worker processes for parsing, started once per process and reused ("fork":
    "spawn" would re-import the caller's main module, which scripts do not guard)."""
    global _POOL
    if _POOL is None or _POOL[0] != workers:
        _POOL = (workers, ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")))
    return _POOL[1]


_POOL = None


def message_kind(items: str) -> str:
    """The message a connector taking ``items`` reads: a Catalog ``notify`` (changes) or ``response``."""
    return "notify" if items in ("changes", "status_events") else "response"


def parse_ahead(pages: Iterable[Payload], kind: str, workers: int) -> Iterator[Payload]:
    """Pass fetched pages on as they arrive; when the first page announces a large fetch
    (SumNum of at least ``PARALLEL_MIN_PAGES`` pages of its size) each page is handed to
    the parser pool at once, so parsing overlaps fetching, and :func:`decode` collects
    the parses (``Payload.parsed``). The first page is read once for its SumNum here
    and for the paginator (:func:`head`). The pool starts on the first page, before a
    paginator starts its fetch threads (a fork copies only the forking thread)."""
    pool = None
    for n, p in enumerate(pages):
        if n == 0 and workers > 1:
            first = head(p.data, p.charset)
            if first is not None and first.items and first.sum_num \
                    and -(-first.sum_num // first.items) >= PARALLEL_MIN_PAGES:
                pool = parser_pool(workers)
        if pool is not None:
            p.parsed = Ahead(_ahead_kind(kind), pool.submit(_read_pages, [(0, p.name, p.data, p.charset)], kind))
        yield p


def _ahead_kind(kind: str) -> str:
    return f"gb28181:{kind}"


def _parsed(payloads: list[Payload], kind: str, workers: int):
    hit = _LAST.get(payloads, kind)
    if hit is not None:
        return hit
    key = _ahead_kind(kind)
    ahead = {pi: f for pi, p in enumerate(payloads) if (f := ahead_of(p, key)) is not None}
    numbered = [(pi, p.name, p.data, p.charset) for pi, p in enumerate(payloads) if pi not in ahead]
    parts = []
    if numbered and (workers <= 1 or len(numbered) < PARALLEL_MIN_PAGES):
        parts.append(_read_pages(numbered, kind))
    elif numbered:
        size = -(-len(numbered) // (workers * 16))  # small chunks: no worker idles long at the end
        chunks = [numbered[i:i + size] for i in range(0, len(numbered), size)]
        # map keeps the chunks' order
        parts += parser_pool(workers).map(partial(_read_pages, kind=kind), chunks)
    parts += [f.result().as_page(pi) for pi, f in ahead.items()]
    result = _assembled(parts)
    _LAST.put(payloads, kind, result)
    return result


def decode(payloads: list[Payload], workers: int | None = None, items: str = "devices") -> Decoded:
    """Decode the pages of one catalogue fetch, keeping its devices or its directory
    items (``items``), or of one delivery of ``<Notify>`` catalogue changes (``changes``, or
    only those that report a device's state: ``status_events``); large fetches are parsed
    by ``workers`` processes (default: one per core). Unreadable pages are refused whole;
    so is a delivery whose pages, all read, hold fewer items than its SumNum announces: a
    partial catalogue must not become the catalogue of its day (the hub counts the newest
    delivered one), so it is kept in quarantine with the shortfall as its reason."""
    kind = message_kind(items)
    table, errors, tallies = _parsed(payloads, kind, workers or os.cpu_count() or 1)
    keep = {"devices": pc.invert(table["__directory"]), "directory": table["__directory"],
            "status_events": table["__status_event"]}.get(items)
    table = (table.filter(keep) if keep is not None else table).drop_columns(["__directory", "__status_event"])
    short = None if errors else shortfall(tallies)
    if short:
        errors, table = [(pi, short) for pi in range(len(payloads))], table.slice(0, 0)
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
