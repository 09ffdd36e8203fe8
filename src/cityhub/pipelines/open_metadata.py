"""Open-data metadata the way portals exchange it: a DCAT-AP catalogue in JSON-LD and
the part of CKAN's Action API that harvesters call (``package_list``, ``package_show``,
``package_search``).

Both describe the same thing, built once per request by ``open_datasets``: one dataset
per open category of the catalogue (unconditionally or conditionally open; never one
that is not open), with its owner as publisher, its update cycle as a frequency of the
EU vocabulary, the licence and contact ``catalog.yaml`` declares (``open_data:``), the
time and region coverage the lake holds, and, per lake dataset, the open records API
(JSON) and the open exports (CSV, Parquet). Only public fields are ever named, and the
coverage is read only from public time and region fields.

Vocabularies: DCAT 3 / DCAT-AP 3 (``dcat:``, ``dct:``, ``foaf:``, ``vcard:``), the EU
Publications Office authority tables for frequency, file type, language and access
right, and IANA media types. Nothing here speaks HTTP: the routes pass the base URL in
and map the errors.
"""
from __future__ import annotations

import json
import re
import shlex
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import duckdb
from sqlalchemy import select

from cityhub.access.catalogue import Catalogue
from cityhub.core.errors import InvalidRequest, NotFound
from cityhub.core.time import CST
from cityhub.declarations import Declarations
from cityhub.declarations.catalogue import Category, Department, Licence, OpenData
from cityhub.declarations.contracts import Contract
from cityhub.declarations.regions import City
from cityhub.lake.hubdb import catalog_categories, engine
from cityhub.lake.tables import register_view
from cityhub.read.snapshots import SnapshotCache

# -- vocabularies ------------------------------------------------------------------------

EU = "http://publications.europa.eu/resource/authority/"
FREQUENCY = EU + "frequency/"
FILE_TYPE = EU + "file-type/"
LANGUAGE = EU + "language/"
ACCESS_RIGHT = EU + "access-right/"
IANA = "https://www.iana.org/assignments/media-types/"

CYCLE_FREQUENCY = {"real_time": "UPDATE_CONT", "hourly": "HOURLY", "daily": "DAILY", "weekly": "WEEKLY",
                   "monthly": "MONTHLY", "quarterly": "QUARTERLY", "yearly": "ANNUAL", "annual": "ANNUAL"}
"""Update cycles by name -> the EU frequency table (``dct:accrualPeriodicity``)."""
_BY_AGE = ((timedelta(hours=1), "UPDATE_CONT"), (timedelta(hours=3), "HOURLY"), (timedelta(hours=36), "DAILY"),
           (timedelta(days=8), "WEEKLY"), (timedelta(days=32), "MONTHLY"), (timedelta(days=93), "QUARTERLY"),
           (timedelta(days=366), "ANNUAL"))
"""A cycle of another name, by how old its newest landing may be."""
CYCLE_ZH = {"real_time": "实时", "hourly": "每小时", "daily": "每日", "weekly": "每周", "monthly": "每月",
            "quarterly": "每季度", "yearly": "每年", "annual": "每年"}

FORMATS = {
    # format: (CKAN format, IANA media type, EU file type, Chinese and English names of the distribution)
    "json": ("JSON", "application/json", "JSON", "记录接口", "records API"),
    "csv": ("CSV", "text/csv", "CSV", "CSV 全量下载", "CSV download"),
    "parquet": ("Parquet", "application/vnd.apache.parquet", "PARQUET", "Parquet 全量下载", "Parquet download"),
}
EXPORT_FORMATS = ("csv", "parquet")
LANGUAGES = ("ZHO", "ENG")
PUBLIC, RESTRICTED = ACCESS_RIGHT + "PUBLIC", ACCESS_RIGHT + "RESTRICTED"


def frequency(cycle: str, max_age: timedelta | None) -> str:
    """The EU frequency (its IRI) of an update cycle: by its name, else by its length."""
    code = CYCLE_FREQUENCY.get(cycle)
    if code is None and max_age is not None:
        code = next((c for limit, c in _BY_AGE if max_age <= limit), "IRREG")
    return FREQUENCY + (code or "UNKNOWN")


# -- what the lake holds -----------------------------------------------------------------

@dataclass(frozen=True)
class Extent:
    """What one lake dataset holds at one snapshot: the span of its (public) time field,
    the regions of its (public) region field, and when it was first and last committed."""
    start: date | datetime | None = None
    end: date | datetime | None = None
    regions: tuple[str, ...] = ()
    created: datetime | None = None
    modified: datetime | None = None


_extents: dict[tuple[str, int], Extent] = {}
_extents_lock = threading.Lock()


def extent(snapshots: SnapshotCache, c: Contract) -> Extent:
    """``c``'s dataset as the lake holds it now (cached per snapshot: data files never change);
    a dataset nothing landed in yet holds nothing (and no table is made for it here)."""
    if not snapshots.lake.exists(c.name):
        return Extent()
    sid = snapshots.current(c.name)
    if sid is None:
        return Extent()
    with _extents_lock:
        hit = _extents.get((c.name, sid))
    if hit is not None:
        return hit
    table = snapshots.lake.table(c.name)
    stamps = sorted(s.timestamp_ms for s in table.metadata.snapshots)
    snap = table.snapshot_by_id(sid)
    at = datetime.fromtimestamp((snap.timestamp_ms if snap else stamps[-1]) / 1000, CST).replace(tzinfo=None)
    first = datetime.fromtimestamp(stamps[0] / 1000, CST).replace(tzinfo=None) if stamps else at
    time_f = c.time_field if c.time_field and c.field(c.time_field).sensitivity == "public" else None
    region_f = c.region_field if c.region_field and c.field(c.region_field).sensitivity == "public" else None
    start = end = None
    regions: tuple[str, ...] = ()
    if time_f or region_f:
        con = duckdb.connect()
        try:
            register_view(con, "d", list(snapshots.files(c.name, sid)), c)
            cols = (f'min("{time_f}"), max("{time_f}")' if time_f else "NULL, NULL") + ", " + \
                   (f'list(DISTINCT CAST("{region_f}" AS VARCHAR))' if region_f else "NULL")
            start, end, found = con.execute(f'SELECT {cols} FROM "d"').fetchone()
        finally:
            con.close()
        regions = tuple(sorted(r for r in found or () if r))
    out = Extent(start, end, regions, first, at)
    with _extents_lock:
        if len(_extents) > 4096:
            _extents.clear()
        _extents[(c.name, sid)] = out
    return out


# -- the open datasets -------------------------------------------------------------------

@dataclass(frozen=True)
class Distribution:
    dataset: str
    """The lake dataset (its records and exports are under ``/v1/open/datasets/<dataset>/``)."""
    format: str
    """json (the records API), csv or parquet (exports)."""
    url: str
    title_zh: str
    title_en: str
    fields: tuple[str, ...]
    """Its public fields: the only fields open data has."""
    modified: datetime | None

    @property
    def export(self) -> bool:
        return self.format in EXPORT_FORMATS

    @property
    def media_type(self) -> str:
        return FORMATS[self.format][1]

    @property
    def ckan_format(self) -> str:
        return FORMATS[self.format][0]


@dataclass(frozen=True)
class OpenDataset:
    """An open category as portals see it."""
    category: Category
    owner: Department | None
    contact: Department | None
    contact_email: str | None
    licence: Licence | None
    frequency: str
    fields: tuple[str, ...]
    """Public fields of the category (over all its datasets)."""
    distributions: tuple[Distribution, ...]
    start: date | datetime | None
    end: date | datetime | None
    regions: tuple[str, ...]
    """The city, then the counties its data covers."""
    created: datetime
    modified: datetime
    keywords_zh: tuple[str, ...] = ()
    keywords_en: tuple[str, ...] = ()
    description_zh: str = ""
    description_en: str = ""

    @property
    def id(self) -> str:
        return self.category.id

    @property
    def name(self) -> str:
        """CKAN's name (lowercase letters, digits, ``-`` and ``_``): the id with ``-`` for ``.``."""
        return ckan_name(self.category.id)

    @property
    def uuid(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cityhub:category:{self.category.id}"))

    @property
    def needs_token(self) -> bool:
        return self.category.open_type == "conditional" or self.category.share_type == "conditional"

    @property
    def needs_grant(self) -> bool:
        return self.category.share_type == "conditional"


def ckan_name(category_id: str) -> str:
    return category_id.replace(".", "-")


def _public(c: Contract) -> tuple[str, ...]:
    return tuple(f.name for f in c.fields if f.sensitivity == "public")


def _category_times(uri: str) -> dict[str, datetime]:
    with engine(uri).connect() as con:
        return {r.id: r.updated_at
                for r in con.execute(select(catalog_categories.c.id, catalog_categories.c.updated_at))}


def open_datasets(decl: Declarations, cat: Catalogue, snapshots: SnapshotCache, city: City, base: str,
                  hub_db_uri: str) -> list[OpenDataset]:
    """The open categories of ``cat`` with what the lake holds of them, by id; ``base``
    is the URL the API is reached at (``https://host``, no trailing slash)."""
    od: OpenData = decl.catalogue.open_data
    cycles = decl.catalogue.update_cycles
    times = _category_times(hub_db_uri)
    contact = cat.departments.get(od.contact) if od.contact else None
    out = []
    for c in sorted(cat.categories.values(), key=lambda c: c.id):
        if not (c.should_open and c.should_share):
            continue
        contracts = [decl.contracts[d] for d in c.datasets if d in decl.contracts and d != "quarantine"]
        if c.datasets:
            fields = tuple(dict.fromkeys(f for k in contracts for f in _public(k)))
        else:
            fields = tuple(f.name for f in c.fields if f.sensitivity == "public")
        declared_at = times.get(c.id) or datetime(1970, 1, 1)
        dists, starts, ends, regions, created, modified = [], [], [], set(), [declared_at], [declared_at]
        for k in contracts:
            public = _public(k)
            if not public:
                continue
            ext = extent(snapshots, k)
            starts += [ext.start] if ext.start is not None else []
            ends += [ext.end] if ext.end is not None else []
            regions.update(r for r in ext.regions if city.contains(r))
            created += [ext.created] if ext.created else []
            modified += [ext.modified] if ext.modified else []
            title_zh, _, title_en = k.title.partition(" / ")
            title_en = title_en or title_zh
            root = f"{base}/v1/open/datasets/{k.name}"
            for fmt in ("json", *EXPORT_FORMATS):
                url = f"{root}/records" if fmt == "json" else f"{root}/export?format={fmt}"
                dists.append(Distribution(k.name, fmt, url, f"{title_zh}：{FORMATS[fmt][3]}",
                                          f"{title_en}: {FORMATS[fmt][4]}", public, ext.modified))
        owner = cat.departments.get(c.owner)
        counties = sorted(r for r in regions if r != city.code)
        ds = OpenDataset(
            category=c, owner=owner, contact=contact or owner, contact_email=od.contact_email if contact else None,
            licence=od.licence, frequency=frequency(c.update_cycle, cycles.get(c.update_cycle)), fields=fields,
            distributions=tuple(dists), start=min(starts, key=_sort_key) if starts else None,
            end=max(ends, key=_sort_key) if ends else None, regions=(city.code, *counties),
            created=min(created), modified=max(modified))
        out.append(_described(ds, city))
    return out


def _sort_key(v: date | datetime) -> datetime:
    return v if isinstance(v, datetime) else datetime(v.year, v.month, v.day)


def access_note(ds: OpenDataset) -> tuple[str, str]:
    """How the dataset's records and exports may be read, in Chinese and English."""
    if ds.needs_grant:
        return ("有条件开放：需注册客户端的访问令牌（POST /v1/token），并经数据提供部门批准的有效授权",
                ("open on condition: needs a registered client's token (POST /v1/token) and a live grant "
                 "approved by the owning department"))
    if ds.needs_token:
        return ("有条件开放：需注册客户端的访问令牌（POST /v1/token）",
                "open on condition: needs a registered client's token (POST /v1/token)")
    return "无条件开放，无需令牌", "open without condition: no token needed"


def _described(ds: OpenDataset, city: City) -> OpenDataset:
    c, owner = ds.category, ds.owner
    owner_zh, owner_en = (owner.name_zh, owner.name_en) if owner else (c.owner, c.owner)
    cycle_zh = CYCLE_ZH.get(c.update_cycle, c.update_cycle)
    how_zh, how_en = access_note(ds)
    fields = "、".join(ds.fields)
    zh = (f"{city.name}{owner_zh}提供的“{c.name_zh}”公共数据；{how_zh}；更新周期：{cycle_zh}。"
          + (f"开放字段：{fields}。" if ds.fields else "")
          + ("" if ds.distributions else "尚未接入数据源，暂无可下载数据。"))
    en = (f"{c.name_en}, public data of the {owner_en} of {city.name_en}; {how_en}; "
          f"updated {c.update_cycle.replace('_', ' ')}."
          + (f" Open fields: {', '.join(ds.fields)}." if ds.fields else "")
          + ("" if ds.distributions else " No feed is connected yet: nothing to download."))
    kw_zh = [c.name_zh, owner_zh, city.name, "开放数据"] + (["公共信用信息"] if c.credit else [])
    kw_en = [c.name_en, owner_en, city.name_en, "open data"] + (["public credit information"] if c.credit else [])
    return replace(ds, description_zh=zh, description_en=en, keywords_zh=tuple(dict.fromkeys(kw_zh)),
                   keywords_en=tuple(dict.fromkeys(kw_en)))


def find(datasets: Iterable[OpenDataset], ref: str) -> OpenDataset:
    """The dataset a CKAN id, name or the category's own id names."""
    for ds in datasets:
        if ref in (ds.uuid, ds.name, ds.id):
            return ds
    raise NotFound(f"no open dataset {ref!r}")


# -- DCAT-AP (JSON-LD) -------------------------------------------------------------------

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/", "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#", "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#", "skos": "http://www.w3.org/2004/02/skos/core#",
    "locn": "http://www.w3.org/ns/locn#",
}


def _text(zh: str, en: str) -> list[dict]:
    return [{"@value": zh, "@language": "zh"}, {"@value": en, "@language": "en"}]


def _ref(iri: str) -> dict:
    return {"@id": iri}


def _time(v: date | datetime) -> dict:
    if isinstance(v, datetime):
        return {"@value": v.replace(tzinfo=CST).isoformat(), "@type": "xsd:dateTime"}
    return {"@value": v.isoformat(), "@type": "xsd:date"}


def dcat_catalog(datasets: list[OpenDataset], city: City, base: str, licence: Licence | None) -> dict:
    """The DCAT-AP catalogue of ``datasets`` as a JSON-LD document (``@context`` inline:
    a harvester needs nothing but this document). Its nodes are fragments of its own
    URL; vocabulary terms are typed in it (``dct:Frequency``, ``dct:MediaType``, ...),
    as the DCAT-AP shapes check the classes of values."""
    doc = f"{base}/v1/open/dcat.jsonld"
    nodes: dict[str, dict] = {}

    def node(iri: str, types: list[str], **props) -> dict:
        n = nodes.setdefault(iri, {"@id": iri, "@type": types})
        n.update({k.replace("__", ":"): v for k, v in props.items() if v not in (None, [], "")})
        return _ref(iri)

    def location(code: str) -> dict:
        name_zh = city.name_of(code)
        name_en = city.name_en if code == city.code else name_zh
        return node(f"{doc}#region-{code}", ["dct:Location"], dct__identifier=code,
                    skos__prefLabel=[{"@value": name_zh, "@language": "zh"}]
                    + ([{"@value": name_en, "@language": "en"}] if code == city.code else []),
                    locn__geographicName=[{"@value": name_zh, "@language": "zh"}])

    def organisation(d: Department | None, fallback: str) -> dict:
        did = d.id if d else fallback
        return node(f"{doc}#org-{did}", ["foaf:Organization", "foaf:Agent"], dct__identifier=did,
                    foaf__name=_text(d.name_zh, d.name_en) if d else did)

    def vocab(iri: str, kind: str, **props) -> dict:
        return node(iri, [kind], **props)

    lic = vocab(licence.uri, "dct:LicenseDocument", dct__title=licence.title) if licence else None
    langs = [vocab(LANGUAGE + code, "dct:LinguisticSystem") for code in LANGUAGES]
    publisher = node(f"{doc}#publisher", ["foaf:Organization", "foaf:Agent"], dct__identifier=city.code,
                     foaf__name=_text(city.name, city.name_en), dct__spatial=location(city.code))
    refs = []
    for ds in datasets:
        c = ds.category
        iri = f"{doc}#dataset-{c.id}"
        rights = None
        if ds.needs_token:
            rid = "rights-grant" if ds.needs_grant else "rights-token"
            rights = node(f"{doc}#{rid}", ["dct:RightsStatement"], rdfs__label=_text(*access_note(ds)))
        dists = []
        for d in ds.distributions:
            fmt = FORMATS[d.format]
            fields = "、".join(d.fields)
            dists.append(node(
                f"{doc}#distribution-{d.dataset}-{d.format}", ["dcat:Distribution"],
                dct__title=_text(d.title_zh, d.title_en),
                dct__description=_text(f"开放字段：{fields}" + ("（分页读取：next_cursor）" if not d.export else ""),
                                       f"Open fields: {', '.join(d.fields)}"
                                       + (" (paged: next_cursor)" if not d.export else "")),
                dcat__accessURL=_ref(d.url), dcat__downloadURL=_ref(d.url) if d.export else None,
                dcat__mediaType=vocab(IANA + fmt[1], "dct:MediaType"),
                dct__format=vocab(FILE_TYPE + fmt[2], "dct:MediaTypeOrExtent"),
                dct__license=lic, dct__rights=rights,
                dct__modified=_time(d.modified) if d.modified else None))
        temporal = None
        if ds.start is not None or ds.end is not None:
            temporal = node(f"{doc}#temporal-{c.id}", ["dct:PeriodOfTime"],
                            dcat__startDate=_time(ds.start) if ds.start is not None else None,
                            dcat__endDate=_time(ds.end) if ds.end is not None else None)
        contact = ds.contact
        cid = contact.id if contact else c.owner
        point = node(f"{doc}#contact-{cid}", ["vcard:Organization", "vcard:Kind"],
                     vcard__fn=_text(contact.name_zh, contact.name_en) if contact else cid,
                     vcard__hasEmail=_ref(f"mailto:{ds.contact_email}") if ds.contact_email else None)
        refs.append(node(
            iri, ["dcat:Dataset"], dct__identifier=c.id, dct__title=_text(c.name_zh, c.name_en),
            dct__description=_text(ds.description_zh, ds.description_en),
            dcat__keyword=[{"@value": k, "@language": "zh"} for k in ds.keywords_zh]
            + [{"@value": k, "@language": "en"} for k in ds.keywords_en],
            dct__publisher=organisation(ds.owner, c.owner), dcat__contactPoint=point,
            dct__accrualPeriodicity=vocab(ds.frequency, "dct:Frequency"),
            dct__license=lic,
            dct__accessRights=vocab(RESTRICTED if ds.needs_token else PUBLIC, "dct:RightsStatement"),
            dct__temporal=temporal, dct__spatial=[location(r) for r in ds.regions],
            dct__language=langs, dct__issued=_time(ds.created), dct__modified=_time(ds.modified),
            dcat__distribution=dists))
    node(doc, ["dcat:Catalog"], dct__title=_text(f"{city.name}公共数据开放目录", f"{city.name_en} open data catalogue"),
         dct__description=_text(f"{city.name}城市数据共享平台的开放数据类目：每个开放类目一个数据集，只含公开字段。",
                                f"The open data categories of {city.name_en}'s city data hub: one dataset per open "
                                "category, public fields only."),
         dct__publisher=publisher, dct__language=langs, dct__license=lic, dct__spatial=location(city.code),
         dct__modified=_time(max((d.modified for d in datasets), default=datetime(1970, 1, 1))),
         dcat__dataset=refs)
    ordered = [nodes.pop(doc)] + list(nodes.values())
    return {"@context": CONTEXT, "@graph": ordered}


# -- CKAN --------------------------------------------------------------------------------

def _utc(t: datetime) -> str:
    """CKAN's timestamps: UTC, ISO 8601 without a zone."""
    return t.replace(tzinfo=CST).astimezone(UTC).replace(tzinfo=None).isoformat()


def _tag(text: str) -> str | None:
    """A CKAN tag: letters, digits, spaces, ``-``, ``_`` and ``.``; 2 to 100 characters."""
    t = re.sub(r"\s+", " ", re.sub(r"[^\w \-.]", " ", text)).strip()[:100]
    return t if len(t) >= 2 else None


def _organisation(d: Department | None, fallback: str, created: datetime) -> dict:
    did = d.id if d else fallback
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cityhub:department:{did}")), "name": did.replace("_", "-"),
            "title": d.name_zh if d else did, "title_translated": {"zh": d.name_zh, "en": d.name_en} if d else {},
            "description": d.name_en if d else "", "type": "organization", "is_organization": True,
            "state": "active", "approval_status": "approved", "image_url": "", "created": _utc(created)}


def ckan_package(ds: OpenDataset, base: str) -> dict:
    """``ds`` as CKAN's ``package_show`` returns a package."""
    c, lic = ds.category, ds.licence
    resources = []
    for i, d in enumerate(ds.distributions):
        resources.append({
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, d.url)), "package_id": ds.uuid, "position": i,
            "name": d.title_zh, "description": f"{d.title_en}. Open fields: {', '.join(d.fields)}.",
            "url": d.url, "format": d.ckan_format, "mimetype": d.media_type, "state": "active",
            "resource_type": "file" if d.export else "api", "url_type": None, "size": None, "hash": "",
            "created": _utc(ds.created), "last_modified": _utc(d.modified) if d.modified else None,
            "access_url": d.url, "download_url": d.url if d.export else None,
            "rights": "token" if ds.needs_token else "public", "license": lic.uri if lic else None})
    tags = [t for t in dict.fromkeys(_tag(k) for k in (*ds.keywords_zh, *ds.keywords_en)) if t]
    owner = _organisation(ds.owner, c.owner, ds.created)
    contact = ds.contact
    extras = {
        "identifier": c.id, "uri": f"{base}/v1/open/dcat.jsonld#dataset-{c.id}", "frequency": ds.frequency,
        "update_cycle": c.update_cycle, "open_type": c.open_type,
        "access_rights": RESTRICTED if ds.needs_token else PUBLIC,
        "language": json.dumps(["zh", "en"]), "spatial_uri": f"{base}/v1/open/dcat.jsonld#region-{ds.regions[0]}",
        "region_codes": ",".join(ds.regions), "public_fields": ",".join(ds.fields),
        "publisher_name": ds.owner.name_zh if ds.owner else c.owner,
        "publisher_uri": f"{base}/v1/open/dcat.jsonld#org-{c.owner}",
        "contact_name": contact.name_zh if contact else c.owner,
        "temporal_start": _iso(ds.start), "temporal_end": _iso(ds.end),
    }
    return {
        "id": ds.uuid, "name": ds.name, "title": c.name_zh, "title_translated": {"zh": c.name_zh, "en": c.name_en},
        "notes": f"{ds.description_zh}\n\n{ds.description_en}",
        "notes_translated": {"zh": ds.description_zh, "en": ds.description_en},
        "type": "dataset", "state": "active", "private": False, "url": "", "version": None,
        "license_id": lic.id if lic else "notspecified", "license_title": lic.title if lic else "License not specified",
        "license_url": lic.uri if lic else None, "isopen": bool(lic) and not ds.needs_token,
        "author": ds.owner.name_zh if ds.owner else c.owner, "author_email": None,
        "maintainer": contact.name_zh if contact else c.owner, "maintainer_email": ds.contact_email,
        "metadata_created": _utc(ds.created), "metadata_modified": _utc(ds.modified),
        "owner_org": owner["id"], "organization": owner,
        "num_resources": len(resources), "resources": resources,
        "num_tags": len(tags), "tags": [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cityhub:tag:{t}")), "name": t,
                                         "display_name": t, "state": "active", "vocabulary_id": None} for t in tags],
        "groups": [], "relationships_as_object": [], "relationships_as_subject": [],
        "extras": [{"key": k, "value": v} for k, v in sorted(extras.items()) if v not in (None, "")],
    }


def _iso(v: date | datetime | None) -> str | None:
    if v is None:
        return None
    return v.replace(tzinfo=CST).isoformat() if isinstance(v, datetime) else v.isoformat()


class CkanValidationError(InvalidRequest):
    """A parameter CKAN would refuse (``Validation Error``), by name with its messages."""

    def __init__(self, errors: Mapping[str, list[str]]):
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = dict(errors)


class SearchQueryError(InvalidRequest):
    """A ``q``, ``fq`` or ``sort`` this subset cannot answer (CKAN's ``Search Query Error``)."""


MAX_ROWS = 1000
"""CKAN's default ``ckan.search.rows_max``."""
DEFAULT_SORT = "score desc, metadata_modified desc"
_TERM = re.compile(r'^(?P<sign>[+-]?)(?P<field>[A-Za-z_]+):(?P<value>"[^"]*"|\[[^\]]*\]|[^\s"\[]\S*)$')
_SORTS = {"id": lambda p: p["id"], "name": lambda p: p["name"], "title_string": lambda p: p["title"],
          "title": lambda p: p["title"], "metadata_modified": lambda p: p["metadata_modified"],
          "metadata_created": lambda p: p["metadata_created"]}


def natural(name: str, raw, default: int, most: int | None = None) -> int:
    """A CKAN integer parameter: absent -> ``default``; not a natural number -> Validation Error."""
    if raw is None or raw == "":
        return default
    try:
        n = int(str(raw).strip())
    except ValueError:
        raise CkanValidationError({name: ["Invalid integer"]}) from None
    if n < 0:
        raise CkanValidationError({name: ["Must be a natural number"]})
    return min(n, most) if most is not None else n


def _values(p: dict, name: str) -> list[str]:
    """A package's values for a search field, as text."""
    if name in ("organization", "owner_org"):
        org = p["organization"]
        return [org["name"], org["id"], org["name"].replace("-", "_")]
    if name in ("tags", "tag"):
        return [t["name"] for t in p["tags"]]
    if name == "res_format":
        return [r["format"] for r in p["resources"]]
    if name in ("type", "dataset_type"):
        return ["dataset"]
    if name == "capacity":
        return ["public"]
    if name == "state":
        return ["active"]
    if name in ("id", "name", "title", "license_id", "metadata_modified", "metadata_created"):
        return [p[name]]
    extras = {e["key"]: e["value"] for e in p["extras"]}
    if name in extras or name in ("identifier", "frequency", "update_cycle", "open_type", "region_codes"):
        v = extras.get(name, "")
        return v.split(",") if name == "region_codes" else [v]
    raise SearchQueryError(f"cannot search on field {name!r}: this hub answers name, id, title, organization, "
                           "tags, res_format, license_id, identifier, frequency, update_cycle, open_type, "
                           "region_codes, metadata_modified and metadata_created")


def _instant(text: str) -> str | None:
    """A range end as CKAN's UTC text (``*`` -> None)."""
    if text == "*":
        return None
    t = text.strip().rstrip("Z")
    try:
        v = datetime.fromisoformat(t)
    except ValueError:
        raise SearchQueryError(f"{text!r} is not a time (ISO 8601, UTC, or *)") from None
    return (v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v).isoformat()


def _matches(p: dict, fld: str, value: str) -> bool:
    if value.startswith("["):
        lo, sep, hi = value[1:-1].partition(" TO ")
        if not sep:
            raise SearchQueryError(f"range {value!r} is not [from TO to]")
        a, b = _instant(lo.strip()), _instant(hi.strip())
        return any((a is None or v >= a) and (b is None or v <= b) for v in _values(p, fld))
    value = value.strip('"')
    if value == "*":
        return bool(_values(p, fld))
    return any(v.lower() == value.lower() for v in _values(p, fld))


def _filter(p: dict, expr: str) -> bool:
    """Solr's ``fq`` as CKAN harvesters send it: ``field:value`` terms (``-`` negates,
    ``[a TO b]`` ranges, ``"quoted"`` values), ``A OR B`` groups, the rest AND."""
    try:
        tokens = shlex.split(expr.replace("(", " ").replace(")", " "), posix=False)
    except ValueError as e:
        raise SearchQueryError(f"fq {expr!r}: {e}") from None
    tokens = _rejoin_ranges(tokens)
    groups: list[list[str]] = []
    joined = False
    for t in tokens:
        if t in ("OR", "||"):
            joined = True
            continue
        if t in ("AND", "&&"):
            continue
        if joined and groups:
            groups[-1].append(t)
        else:
            groups.append([t])
        joined = False
    for group in groups:
        hits = []
        for t in group:
            m = _TERM.match(t)
            if not m:
                if t in ("*:*", "*"):
                    hits.append(True)
                    continue
                raise SearchQueryError(f"fq term {t!r} is not field:value")
            hit = _matches(p, m["field"], m["value"])
            hits.append(not hit if m["sign"] == "-" else hit)
        if not any(hits):
            return False
    return True


def _rejoin_ranges(tokens: list[str]) -> list[str]:
    """``field:[a TO b]`` split at its blanks, put back together."""
    out: list[str] = []
    for t in tokens:
        if out and "[" in out[-1] and "]" not in out[-1]:
            out[-1] += " " + t
        else:
            out.append(t)
    return out


def _text_hit(p: dict, term: str) -> bool:
    term = term.strip('"').lower()
    blob = " ".join([p["name"], p["title"], *p["title_translated"].values(), p["notes"], p["organization"]["title"],
                     p["organization"]["name"], p["organization"]["description"],
                     *(t["name"] for t in p["tags"]), *(e["value"] for e in p["extras"])]).lower()
    return term in blob


def search(packages: list[dict], q: str | None = None, fq: str | None = None, rows=None, start=None,
           sort: str | None = None) -> dict:
    """CKAN's ``package_search`` over ``packages``: ``q`` words (all must match, in any
    text of the package; ``field:value`` words filter as in ``fq``), ``fq``, ``sort``
    (``id``, ``name``, ``title_string``, ``metadata_modified``, ``metadata_created``,
    ``score``; asc or desc; comma-separated), paged by ``rows`` (default 10, at most
    1000) from ``start``."""
    n_rows = natural("rows", rows, 10, MAX_ROWS)
    n_start = natural("start", start, 0)
    hits = list(packages)
    if fq and fq.strip():
        hits = [p for p in hits if _filter(p, fq)]
    if q and q.strip() not in ("", "*:*", "*"):
        try:
            words = shlex.split(q, posix=False)
        except ValueError as e:
            raise SearchQueryError(f"q {q!r}: {e}") from None
        fielded = [w for w in words if _TERM.match(w)]
        plain = [w for w in words if not _TERM.match(w)]
        if fielded:
            hits = [p for p in hits if _filter(p, " ".join(fielded))]
        hits = [p for p in hits if all(_text_hit(p, w) for w in plain)]
    order = (sort or DEFAULT_SORT).strip() or DEFAULT_SORT
    for clause in reversed([c.strip() for c in order.split(",") if c.strip()]):
        name, _, direction = clause.partition(" ")
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc") or (name not in _SORTS and name != "score"):
            raise SearchQueryError(f"cannot sort by {clause!r}: use id, name, title_string, metadata_modified, "
                                   "metadata_created or score, with asc or desc")
        if name != "score":  # no relevance here: score keeps the order so far
            hits.sort(key=_SORTS[name], reverse=direction == "desc")
    return {"count": len(hits), "sort": order, "facets": {}, "search_facets": {},
            "results": hits[n_start:n_start + n_rows]}


def package_list(datasets: list[OpenDataset], limit=None, offset=None) -> list[str]:
    names = sorted(ds.name for ds in datasets)
    n_offset = natural("offset", offset, 0)
    n_limit = natural("limit", limit, len(names))
    return names[n_offset:n_offset + n_limit]
