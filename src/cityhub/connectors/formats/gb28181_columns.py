"""GB/T 28181 catalogue pages in the standard's own spelling, read straight into Arrow
columns by xml2arrow (a Rust XML reader), with no Python object per element.

Walking lxml's tree in Python was most of a catalogue's parse (lxml's parse and the walk
cost 1.4-1.9 CPU-seconds per 100k devices; xml2arrow's read with the checks below, 0.5-0.8:
``bench/catalog_parse.py``). But xml2arrow is a more lenient
reader than libxml2 (it accepts a truncated document, attributes without values,
control characters) and reads some things differently (an empty element as absent,
text around a child element joined). So it reads a page only when a few byte counts
prove the page is in the plain shape where both readers agree: every element one of
the standard's names in its own spelling, at its place, with text and no attributes
(but ``DeviceList``'s ``Num``), closed, non-empty and unrepeated within its parent; no
entities, CDATA, comments, carriage returns or control characters. Any other page
(a vendor's dialect, a malformed page) returns None and is read by lxml as before,
which also gives the reason for refusing it. ``tests/unit/connectors/formats/
test_gb28181_columns.py`` checks, on generated and real pages, that both agree.
"""
from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import yaml
from xml2arrow import Xml2ArrowError, XmlToArrowParser

ROOTS = ("Response", "Notify")
HEAD = ("CmdType", "SN", "DeviceID", "SumNum")
"""The message's own children read (``DeviceList`` aside)."""
ITEM = ("DeviceID", "Name", "Manufacturer", "Model", "Owner", "CivilCode", "Block", "Address", "Parental",
        "ParentID", "SafetyWay", "RegisterWay", "CertNum", "Certifiable", "ErrCode", "EndTime", "Secrecy",
        "IPAddress", "Port", "Password", "Status", "Longitude", "Latitude", "Event", "BusinessGroupID")
"""An item's children as the standard (2016, annex A) spells them; ``Info`` holds the rest."""
INFO = ("PTZType", "PositionType", "RoomType", "UseType", "SupplyLightType", "DirectionType", "Resolution",
        "BusinessGroupID", "DownloadSpeed", "SVCSpaceSupportMode", "SVCTimeSupportMode")

_ROOT = re.compile(rb"[ \t\n]*<(%s)>" % "|".join(ROOTS).encode())
_DEVICE_LIST = re.compile(rb"""<DeviceList(?:[ \t\n]+Num[ \t\n]*=[ \t\n]*(?:"[^"<&]*"|'[^'<&]*'))?[ \t\n]*>""")
_LT, _GT, _SLASH, _BANG, _QUERY = b"<>/!?"


@dataclass(frozen=True)
class Page:
    kind: str
    """``response`` or ``notify``."""
    head: dict[str, str | None]
    """The message's ``CmdType``, ``SN``, ``DeviceID``, ``SumNum`` texts (None: absent)."""
    items: pa.Table
    """One row per ``Item``: a text column per name in ``ITEM`` and ``INFO`` (``Info_<name>``)."""


def read(text: str, body: bytes) -> Page | None:
    """The page (its text and that as UTF-8, without the XML declaration), or None: lxml
    must read it."""
    opened = _ROOT.match(body)
    if opened is None or not body[-100:].rstrip().endswith(b"</%s>" % opened.group(1)):
        return None
    root = opened.group(1).decode()
    # entities, line ends that XML normalises, what XML refuses (memchr-quick single characters)
    if "&" in text or "\r" in text or "\ufffe" in text or "\uffff" in text or (b"]" in body and b"]]>" in body):
        return None
    tags = _tags(body)
    if tags is None:
        return None
    try:
        tables = _parser(root).parse(body)
    except (Xml2ArrowError, TypeError):  # (0.19 raises a TypeError for some of its errors)
        return None  # not well-formed, or an element repeated: lxml says what it is
    head, items = tables["head"], pa.Table.from_batches([tables["items"]]).drop_columns(["<item>"])
    # every element accounted for: the root, DeviceList, Items, Infos and a text per field.
    # One that is empty, misplaced, unknown, spelled otherwise or with attributes is not,
    # and neither is text split by a child element
    filled = sum(len(c) - c.null_count for c in head.columns) + sum(len(c) - c.null_count for c in items.columns)
    if items.num_rows != tags.items or tags.elements != 1 + tags.lists + items.num_rows + tags.infos + filled:
        return None
    if tags.lists and not _DEVICE_LIST.match(body, tags.list_at):
        return None  # an attribute besides Num, or one lxml refuses
    h = head.to_pylist()[0] if head.num_rows else {}
    return Page(kind=root.lower(), head={k: h.get(k) for k in HEAD}, items=items)


@dataclass(frozen=True)
class _Tags:
    elements: int
    items: int
    infos: int
    lists: int
    list_at: int


def _tags(body: bytes) -> _Tags | None:
    """The page's tags counted with numpy (``bytes.count`` over every ``<`` cost more than
    the parse): None where there are control characters, markup besides start and end
    tags (comments, CDATA, declarations, empty-element tags), a start tag without its end,
    a ``>`` outside a tag, or white space inside a tag (so an attribute) but DeviceList's."""
    a = np.frombuffer(body, np.uint8)
    low = np.flatnonzero(a < 0x20)
    if np.count_nonzero((a[low] != 0x0A) & (a[low] != 0x09)):
        return None  # (carriage returns are refused already)
    lt, gt = np.flatnonzero(a == _LT), np.flatnonzero(a == _GT)
    # strictly <...>, text, <...>: each tag ends at its first ">", and none is in text
    if not len(lt) or len(lt) != len(gt) or np.count_nonzero(lt >= gt) or np.count_nonzero(gt[:-1] >= lt[1:]):
        return None
    after = a[lt + 1]
    if np.count_nonzero((after == _BANG) | (after == _QUERY) | (a[gt - 1] == _SLASH)):
        return None
    ends = int(np.count_nonzero(after == _SLASH))
    if len(lt) != 2 * ends:
        return None
    blanks = np.concatenate([low, np.flatnonzero(a == 0x20)])
    blanks = blanks[a[np.maximum(blanks - 1, 0)] != _GT]  # (a blank just after a tag is outside it)
    before = np.searchsorted(gt, blanks)  # the tag each blank comes before or is in
    tag = np.minimum(before, len(gt) - 1)
    in_tag = (before < len(gt)) & (lt[tag] < blanks)
    inside = blanks[in_tag]
    starts = lt[after != _SLASH]
    last = len(a) - 1

    def named(name: bytes) -> np.ndarray:  # the start tags that begin with ``name``
        at = starts
        for k, byte in enumerate(name[1:], 1):
            at = at[a[np.minimum(at + k, last)] == byte]
        return at

    lists = named(b"<DeviceList")
    if len(inside) and (len(lists) != 1 or np.count_nonzero(lt[tag[in_tag]] != lists[0])):
        return None
    return _Tags(elements=ends, items=len(named(b"<Item>")), infos=len(named(b"<Info>")), lists=len(lists),
                 list_at=int(lists[0]) if len(lists) else -1)


_PARSERS: dict[str, XmlToArrowParser] = {}
_LOCK = threading.Lock()


def _parser(root: str) -> XmlToArrowParser:
    """One parser per message kind and process (its configuration is compiled once)."""
    with _LOCK:
        if root not in _PARSERS:
            _PARSERS[root] = _build(root)
        return _PARSERS[root]


def _build(root: str) -> XmlToArrowParser:
    def field(name: str, path: str) -> dict:
        return {"name": name, "xml_path": path, "data_type": "Utf8", "nullable": True}

    item = f"/{root}/DeviceList/Item"
    config = {"parser_options": {"trim_text": False}, "tables": [
        {"name": "head", "xml_path": "/", "levels": [], "fields": [field(n, f"/{root}/{n}") for n in HEAD]},
        {"name": "items", "xml_path": f"/{root}/DeviceList", "levels": ["item"],
         "fields": [field(n, f"{item}/{n}") for n in ITEM] + [field(f"Info_{n}", f"{item}/Info/{n}") for n in INFO]},
    ]}
    fd, path = tempfile.mkstemp(suffix=".yaml")  # xml2arrow reads its configuration from a file
    try:
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(config, f)
        return XmlToArrowParser(path)
    finally:
        os.unlink(path)
