"""Connector declarations (``schemas/connectors/*.yaml``): where a feed comes from
and how its records become a contract's rows.

Source (file drop, HTTP with paging and an incremental cursor, Kafka, a SQL
database), format and encoding, the contract it lands into, how source fields map
to contract fields, the source fields it expects (schema drift and its policy),
schedule, freshness, and the conformance delivery the test suite feeds it. Code is
needed only for a mapping the declaration cannot say (``function``).
"""
from __future__ import annotations

import codecs
import re
from typing import Annotated, Any, Literal

from croniter import croniter
from pydantic import AfterValidator, BeforeValidator, Discriminator, Field, StringConstraints, Tag, model_validator

from cityhub.declarations.contracts import Code, Name, Regex, Text
from cityhub.declarations.loading import Declared


def _as_text(v: Any) -> Any:
    """YAML scalars (``true``, ``1``) as the text a source sends them as."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return v


Scalar = Annotated[str, BeforeValidator(_as_text)]


# -- sources --------------------------------------------------------------------------

class FileDropSource(Declared):
    kind: Literal["file_drop"]
    folder: str | None = None
    """Under ``CITYHUB_DROP`` (default: the connector's name); ``CITYHUB_<NAME>_FOLDER`` overrides."""
    pattern: str = "*"
    group: Regex | None = None
    """Files whose names share this regex's match are one delivery (e.g. the pages of one fetch)."""
    batch_files: int = Field(31, ge=1)
    """Pending deliveries landed together, when neither their day nor per-delivery keys matter."""
    day: Regex = r"(?<!\d)(?P<year>20\d{2})(?P<month>\d{2})(?P<day>\d{2})(?!\d)"
    """Where a file's name says the day it was cut (groups ``year``, ``month``, ``day``), for
    ``as_of: file_day``; a file it does not match is refused, never dated by its mtime."""

    @model_validator(mode="after")
    def _day_groups(self):
        missing = {"year", "month", "day"} - set(re.compile(self.day).groupindex)
        if missing:
            raise ValueError(f"day pattern {self.day!r} lacks the named groups {', '.join(sorted(missing))}")
        return self


class Paging(Declared):
    style: Literal["page", "next_link", "sumnum"] = "page"
    """``page``: ?page=N until a short or empty page (or ``total`` items); ``next_link``: a FHIR
    Bundle's next link; ``sumnum``: GB/T 28181 pages until SumNum items are seen."""
    page_param: str = "page"
    size_param: str | None = None
    page_size: int = Field(500, ge=1)
    total: str | None = None
    """Dotted path of the item total in the first page, if the source sends one."""


class Incremental(Declared):
    param: str
    """Query parameter that takes the cursor."""
    field: str
    """Source field whose largest timestamp becomes the next cursor."""


class HttpSource(Declared):
    kind: Literal["http"]
    url: str = ""
    """Base URL (``CITYHUB_<NAME>_URL`` overrides; none: the connector is not configured)."""
    path: str = ""
    paging: Paging = Paging()
    incremental: Incremental | None = None
    timeout_s: float = Field(30, gt=0)
    parallel_pages: int = Field(4, ge=1, le=32)


class KafkaSource(Declared):
    kind: Literal["kafka"]
    topic: str = ""
    """Topic (``CITYHUB_<NAME>_TOPIC`` overrides; default: the connector's name)."""


class SqlSource(Declared):
    kind: Literal["sql"]
    url: str = ""
    """SQLAlchemy URL (``CITYHUB_<NAME>_URL`` overrides)."""
    query: Text
    """Rows after ``:cursor``, ordered by the watermark, at most ``:limit``."""
    watermark: str
    start: Scalar = ""
    chunk: int = Field(50_000, ge=1)
    key: str = ""
    """A column that tells apart rows sharing a watermark value: the watermark is then the
    pair (watermark, key) of the last row read, the query takes rows after it with
    ``:cursor`` and ``:cursor_key`` and orders by both, so rows sharing the last value
    (cut by the limit, or committed after the previous read) are not skipped."""

    @model_validator(mode="after")
    def _params(self):
        missing = [p for p in (":cursor", ":limit", *([":cursor_key"] if self.key else [])) if p not in self.query]
        if missing:
            raise ValueError(f"query must use {' and '.join(missing)}")
        return self


def _kind(kinds: dict[str, type]):
    def tag(v: Any) -> str | None:
        k = v.get("kind") if isinstance(v, dict) else getattr(v, "kind", None)
        return f"<{k}>" if k in kinds else None
    return Discriminator(tag, custom_error_type="unknown_kind",
                         custom_error_message=f"kind must be one of {', '.join(kinds)}")


SOURCES = {"file_drop": FileDropSource, "http": HttpSource, "kafka": KafkaSource, "sql": SqlSource}
Source = Annotated[
    Annotated[FileDropSource, Tag("<file_drop>")] | Annotated[HttpSource, Tag("<http>")]
    | Annotated[KafkaSource, Tag("<kafka>")] | Annotated[SqlSource, Tag("<sql>")],
    _kind(SOURCES),
]


# -- formats --------------------------------------------------------------------------

def _codec(v: str) -> str:
    try:
        codecs.lookup(v)
    except LookupError:
        raise ValueError(f"unknown encoding {v!r}") from None
    return v


Encoding = Annotated[str, AfterValidator(_codec)]


class CsvFormat(Declared):
    kind: Literal["csv"]
    encoding: Encoding = "utf-8"


class JsonFormat(Declared):
    kind: Literal["json"]
    encoding: Encoding = "utf-8"
    items: str = ""
    """Dotted path of the list of records in each document (empty: the document is the list)."""


class JsonLinesFormat(Declared):
    kind: Literal["jsonl"]
    encoding: Encoding = "utf-8"


class FhirFormat(Declared):
    kind: Literal["fhir"]
    encoding: Encoding = "utf-8"
    resource_type: str | None = None
    """Keep only resources of this type from each Bundle (or bare resource, or NDJSON line)."""
    identifiers: dict[str, list[str]] = Field(default_factory=dict)
    """Identifier systems per row field, as this platform names them (``uscc: [urn:cn:uscc,
    ...]``): the value of an identifier in any of them fills the field."""


class Gb28181Format(Declared):
    kind: Literal["gb28181"]
    workers: int = Field(0, ge=0)
    """Processes that parse a large fetch (0: one per core)."""
    take: Literal["devices", "directory", "changes", "status_events"] = "devices"
    """Which items the connector takes: a catalogue's devices, or its directory items
    (administrative regions, systems, business groups, virtual organisations), or the
    items of ``<Notify>`` catalogue changes (each with its Event), or only those of them
    that report a device's state (ON, OFF, VLOST, DEFECT)."""

    @property
    def encoding(self) -> str:
        return "as declared by each page"


FORMATS = {"csv": CsvFormat, "json": JsonFormat, "jsonl": JsonLinesFormat, "fhir": FhirFormat,
           "gb28181": Gb28181Format}
Format = Annotated[
    Annotated[CsvFormat, Tag("<csv>")] | Annotated[JsonFormat, Tag("<json>")]
    | Annotated[JsonLinesFormat, Tag("<jsonl>")] | Annotated[FhirFormat, Tag("<fhir>")]
    | Annotated[Gb28181Format, Tag("<gb28181>")],
    _kind(FORMATS),
]


# -- drift, conformance, the connector ----------------------------------------------------

DriftPolicy = Literal["report", "quarantine"]
SourceFieldType = Literal["string", "number", "integer", "boolean", "object", "array", "any"]


class Drift(Declared):
    new_field: DriftPolicy = "report"
    """A field the source added: land the row, report the field."""
    missing_field: DriftPolicy = "report"
    """A declared field absent from a record: land what is there (the contract decides), report it."""
    type_change: DriftPolicy = "quarantine"
    """A field whose type changed: quarantine the row with the reason."""


class ExpectedReject(Declared):
    item: str = Field(min_length=1)
    """Text that identifies the refused item in quarantine: its key, a value in its raw text, or its source."""
    reason: Code
    """The reason code it must be quarantined with."""


class FaultyDelivery(Declared):
    files: tuple[str, ...] = Field(min_length=1)
    quarantine: tuple[ExpectedReject, ...] = Field(min_length=1)
    """Every item that must be refused, and why; nothing else may be."""
    drift: tuple[Literal["new_fields", "missing_fields", "type_changes"], ...] = ()
    """Drift findings the delivery must produce."""


class Conformance(Declared):
    """Sample files the conformance suite feeds the connector (paths relative to the
    connectors folder), so a feed declared without Python is tested like any other."""
    clean: tuple[str, ...] = Field(min_length=1)
    """Files of which every record lands."""
    faulty: FaultyDelivery
    before: tuple[Name, ...] = ()
    """Connectors to run first, with their own clean samples (reference data the rules need)."""


Function = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]


class Lookup(Declared):
    """A field the source does not send, taken from another lake dataset by key (e.g. a
    visit's county from its institution in the registry)."""
    dataset: Name
    match: dict[Name, Name] = Field(min_length=1)
    """This contract's field -> the other dataset's field that must equal it."""
    take: Name
    """The other dataset's field whose value is taken."""
    newest: Name | None = None
    """When the other dataset keeps versions (a registry per day): the field whose largest
    value picks the version the value is taken from."""


class ConnectorSpec(Declared):
    name: Name
    title: str = ""
    description: Text = ""
    dataset: Name
    source: Source
    format: Format
    fields: dict[str, SourceFieldType] = {}
    """Source field -> the JSON type it is expected to have (drift is judged against this)."""
    columns: dict[Name, str] = {}
    """Contract field <- source field."""
    values: dict[Name, dict[Scalar, Scalar]] = {}
    """Contract field -> {source value: contract value}."""
    constants: dict[Name, Scalar] = {}
    drift: Drift = Drift()
    schedule: str = "@daily"
    """The generated Airflow DAG's schedule: a cron expression or an Airflow preset."""
    freshness_hours: float = Field(24, gt=0)
    as_of: Literal["file_day", "run_day", "none"] = "none"
    """The as-of date of snapshot rows: the day in the file's name, the run's day, or none."""
    function: Function | None = None
    """``module:attr`` of a mapping function, for what renaming cannot say."""
    lookups: dict[Name, Lookup] = {}
    """Contract field -> where its value comes from when the source does not send it."""
    also: tuple[Name, ...] = ()
    """Connectors that land each of this connector's deliveries into their own datasets
    too (a delivery read once, e.g. a catalogue's directory items beside its devices);
    they do not run on their own."""
    conformance: Conformance | None = None

    @model_validator(mode="after")
    def _consistent(self):
        if not self.title:
            object.__setattr__(self, "title", self.name)
        if not (self.schedule in AIRFLOW_PRESETS or croniter.is_valid(self.schedule)):
            raise ValueError(f"schedule {self.schedule!r} is not a cron expression or one of "
                             f"{', '.join(sorted(AIRFLOW_PRESETS))}")
        if self.source.kind == "kafka" and self.format.kind != "jsonl":
            raise ValueError("a Kafka source carries one JSON record per message: its format is jsonl")
        if self.conformance is not None and self.source.kind != "file_drop":
            raise ValueError("a declared conformance delivery is files: only a file_drop source can have one")
        return self


AIRFLOW_PRESETS = {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}
