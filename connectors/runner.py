"""Running a declared connector: source units -> decode -> drift and mapping ->
landing (validate, quarantine, commit with state). Every run is recorded (rows,
quarantine, drift, errors) for ``cityhub connectors status``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import insert, select, update

from connectors import formats, sources
from connectors.mapping import DriftFindings, to_text
from connectors.spec import ConnectorSpec, connector
from hub.config import Settings, settings
from hub.lake import Lake, default_lake, now_cst
from hub.store import connector_runs, engine
from pipelines.landing import Batch, LandReport, assess, land

log = logging.getLogger(__name__)


class ConnectorError(RuntimeError):
    pass


@dataclass
class RunReport:
    connector: str
    units: int = 0
    land: LandReport | None = None
    drift: DriftFindings = field(default_factory=DriftFindings)
    skipped: str | None = None

    @property
    def landed(self) -> int:
        return self.land.landed if self.land else 0

    @property
    def quarantined(self) -> int:
        return self.land.quarantined if self.land else 0

    @property
    def already_landed(self) -> int:
        return self.land.already_landed if self.land else 0

    @property
    def received(self) -> int:
        return self.land.received if self.land else 0

    @property
    def snapshot_id(self) -> int | None:
        return self.land.snapshot_id if self.land else None


def configured(spec: ConnectorSpec, cfg: Settings) -> str | None:
    """Why ``spec`` cannot run here (None: it can)."""
    if spec.source.kind == "http" and not sources.http_url(spec):
        return f"no URL: set CITYHUB_{spec.name.upper()}_URL"
    if spec.source.kind == "kafka" and not cfg.kafka_bootstrap:
        return "no Kafka broker: set CITYHUB_KAFKA_BOOTSTRAP"
    if spec.source.kind == "sql":
        from hub.config import connector_setting
        if not connector_setting(spec.name, "url", spec.source.get("url", "")):
            return f"no database: set CITYHUB_{spec.name.upper()}_URL"
    return None


def unit_batch(spec: ConnectorSpec, unit: sources.Unit, state: dict) -> tuple[Batch, DriftFindings]:
    """The batch one unit lands as, with the state that marks it taken."""
    decoded = formats.decode(spec, unit.payloads)
    text, reasons, drift = to_text(spec, decoded, unit.as_of if spec.as_of != "none" else None)
    new_state = sources.mark_taken(state, unit)
    whole_pages_refused = {r.source for r in decoded.rejects} & {p.name for p in unit.payloads}
    if unit.cursor is not None and not whole_pages_refused:
        # (a page that could not be read keeps the cursor where it was: its rows are fetched again)
        recs = decoded.records if isinstance(decoded.records, list) else decoded.records.to_pylist()
        cursor = unit.cursor(recs)
        if cursor is not None:
            new_state["cursor"] = cursor
    batch = Batch(connector=spec.name, dataset=spec.dataset, batch_id=f"{spec.name}:{unit.id}", text=text,
                  sources=decoded.sources, raw=decoded.raw, rejects=decoded.rejects, state=new_state,
                  row_reasons=reasons)
    return batch, drift


def _units(spec: ConnectorSpec, cfg: Settings, state: dict, as_of: date | None):
    kind = spec.source.kind
    if kind == "file_drop":
        return sources.file_drop_units(spec, cfg, state)
    if kind == "http":
        return sources.http_units(spec, cfg, state, formats.count_items(spec), as_of)
    if kind == "sql":
        return sources.sql_units(spec, cfg, state)
    raise ConnectorError(f"{spec.name}: source kind {kind} has no unit reader")


def run(name: str | ConnectorSpec, lake: Lake | None = None, cfg: Settings | None = None,
        as_of: date | None = None, max_units: int | None = None, **kafka_kw) -> RunReport:
    """Run one connector until its source has nothing new; record the run."""
    spec = connector(name) if isinstance(name, str) else name
    cfg = cfg or settings()
    lake = lake or default_lake()
    report = RunReport(connector=spec.name, land=LandReport(dataset=spec.dataset, batch_id=f"run:{spec.name}"))
    why = configured(spec, cfg)
    if why:
        report.skipped = why
        return report
    run_id = _start(spec, cfg)
    try:
        if spec.source.kind == "kafka":
            report.land = _run_kafka(spec, lake, cfg, report, **kafka_kw)
        else:
            while max_units is None or report.units < max_units:
                state = lake.state(spec.dataset, spec.name)
                unit = next(iter(_units(spec, cfg, state, as_of)), None)
                if unit is None:
                    break
                batch, drift = unit_batch(spec, unit, state)
                report.drift.add(drift)
                report.land.add(land(lake, batch, cfg.city))
                report.units += 1
    except Exception as e:
        _finish(cfg, run_id, report, "failed", f"{type(e).__name__}: {e}")
        raise
    _finish(cfg, run_id, report, "ok", None)
    if report.drift:
        log.warning("%s: schema drift %s", spec.name, report.drift.as_dict())
    return report


def _run_kafka(spec: ConnectorSpec, lake: Lake, cfg: Settings, report: RunReport, **kw) -> LandReport:
    from connectors.kafka_source import KafkaFeed, consume
    from hub.config import connector_setting

    topic = connector_setting(spec.name, "topic", spec.source.get("topic", spec.name))

    def to_batch(values, srcs, batch_id, state):
        decoded = formats.Decoded(*_lines(spec, values, srcs))
        text, reasons, drift = to_text(spec, decoded, now_cst().date() if spec.as_of != "none" else None)
        report.drift.add(drift)
        report.units += 1
        return Batch(connector=spec.name, dataset=spec.dataset, batch_id=batch_id, text=text,
                     sources=decoded.sources, raw=decoded.raw, rejects=decoded.rejects, state=state,
                     row_reasons=reasons)

    kw.setdefault("max_records", cfg.kafka_max_records)
    feed = KafkaFeed(connector=spec.name, dataset=spec.dataset, topic=topic, to_batch=to_batch)
    return consume(lake, feed, bootstrap=cfg.kafka_bootstrap, city=cfg.city, **kw)


def _lines(spec: ConnectorSpec, values: list[bytes], srcs: list[str]):
    from connectors.jsonlines import decode_lines

    fields = list(spec.fields) or list(spec.columns.values())
    table, kept_sources, kept_lines, rejects = decode_lines(values, srcs, fields)
    return table, kept_sources, (lambda i: kept_lines[i].decode("utf-8", "replace")), rejects


def dry_run(name: str, sample: Path, lake: Lake | None = None, cfg: Settings | None = None):
    """What ``sample`` (a file in the connector's format) would land and what
    would be quarantined, and why — nothing is committed."""
    spec = connector(name)
    cfg = cfg or settings()
    lake = lake or default_lake()
    unit = sources.Unit(id=f"sample:{sample.name}", as_of=now_cst().date(),
                        payloads=[sources.Payload(sample.name, sample.read_bytes(), None)])
    batch, drift = unit_batch(spec, unit, {})
    return assess(lake, batch, cfg.city), drift


# -- run records ----------------------------------------------------------------------


def _start(spec: ConnectorSpec, cfg: Settings) -> int:
    with engine(cfg.hub_db_uri).begin() as con:
        return con.execute(insert(connector_runs).values(
            connector=spec.name, started_at=now_cst(), status="running")).inserted_primary_key[0]


def _finish(cfg: Settings, run_id: int, report: RunReport, status: str, error: str | None) -> None:
    land_ = report.land or LandReport(dataset="", batch_id="")
    with engine(cfg.hub_db_uri).begin() as con:
        con.execute(update(connector_runs).where(connector_runs.c.id == run_id).values(
            finished_at=now_cst(), status=status, units=report.units, received=land_.received,
            landed=land_.landed, quarantined=land_.quarantined, already_landed=land_.already_landed,
            snapshot_id=str(land_.snapshot_id) if land_.snapshot_id else None,
            drift=report.drift.as_dict() if report.drift else None, reasons=land_.reasons or None,
            error=(error or "")[:2000] or None))


def runs(cfg: Settings | None = None, connector_name: str | None = None, limit: int = 100) -> list[dict]:
    cfg = cfg or settings()
    q = select(connector_runs).order_by(connector_runs.c.id.desc()).limit(limit)
    if connector_name:
        q = q.where(connector_runs.c.connector == connector_name)
    with engine(cfg.hub_db_uri).connect() as con:
        return [dict(r._mapping) for r in con.execute(q)]
