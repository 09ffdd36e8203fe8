"""Running a declared connector: source units -> decode, drift and mapping (the
connector's batch) -> landing (validate, quarantine, commit with state). Every run
is recorded (rows, quarantine, drift, errors) for ``cityhub connectors status``."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from cityhub.connectors.batches import lines_batch, unit_batch
from cityhub.connectors.drift import DriftFindings
from cityhub.connectors.formats import PageCounter
from cityhub.connectors.sources import file_drop, http, kafka, sql
from cityhub.connectors.sources.units import Unit, source_url
from cityhub.core import logs
from cityhub.core.errors import CityHubError
from cityhub.core.payloads import Payload
from cityhub.core.time import now_cst
from cityhub.declarations.connectors import ConnectorSpec
from cityhub.lake import Lake
from cityhub.pipelines.ingest import alerts, leases, lookups, runs
from cityhub.pipelines.landing import Assessment, LandReport, assess, land

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    connector: str
    units: int = 0
    land: LandReport | None = None
    drift: DriftFindings = field(default_factory=DriftFindings)
    skipped: str | None = None
    also: dict[str, LandReport] = field(default_factory=dict)
    """What the connectors in the declaration's ``also`` landed of the same deliveries."""
    gaps: list[kafka.Gap] = field(default_factory=list)
    """Kafka messages deleted by retention before they were read: recorded in the run's
    reasons (``retention_gap: ...`` -> messages lost), since nothing else would show them."""

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
    def corrected(self) -> int:
        """Rows landed as a newer version of a landed key (or of an older one in the delivery)."""
        return self.land.corrected if self.land else 0

    @property
    def received(self) -> int:
        return self.land.received if self.land else 0

    @property
    def snapshot_id(self) -> int | None:
        return self.land.snapshot_id if self.land else None


def configured(spec: ConnectorSpec, lake: Lake) -> str | None:
    """Why ``spec`` cannot run with the lake's settings (None: it can)."""
    cfg = lake.cfg
    taken_with = [n for n, s in lake.decl.connectors.items() if spec.name in s.also]
    if taken_with:
        return f"lands with {', '.join(taken_with)}'s deliveries, not on its own"
    match spec.source.kind:
        case "http" if not source_url(spec, cfg):
            return f"no URL: set CITYHUB_{spec.name.upper()}_URL"
        case "kafka" if not cfg.kafka_bootstrap:
            return "no Kafka broker: set CITYHUB_KAFKA_BOOTSTRAP"
        case "sql" if not source_url(spec, cfg):
            return f"no database: set CITYHUB_{spec.name.upper()}_URL"
    return None


def _units(spec: ConnectorSpec, lake: Lake, state: dict, as_of: date | None) -> Iterator[Unit]:
    cfg = lake.cfg
    match spec.source.kind:
        case "file_drop":
            return file_drop.units(spec, lake.decl.contract(spec.dataset), cfg, state)
        case "http":
            return http.units(spec, cfg, state, PageCounter(spec), as_of)
        case "sql":
            return sql.units(spec, cfg, state)
    raise AssertionError(f"{spec.name}: source kind {spec.source.kind} is consumed, not read in units")


def run(lake: Lake, name: str | ConnectorSpec, *, as_of: date | None = None, max_units: int | None = None,
        stop_at_end: bool = True, max_polls: int | None = None) -> RunReport:
    """Run one connector until its source has nothing new (Kafka: until caught up,
    or ``max_polls``); record the run."""
    spec = lake.decl.connector(name) if isinstance(name, str) else name
    report = RunReport(connector=spec.name, land=LandReport(dataset=spec.dataset, batch_id=f"run:{spec.name}"))
    why = configured(spec, lake)
    if why:
        report.skipped = why
        return report
    with leases.held(lake.cfg, spec.name) as busy:
        if busy:
            log.warning("%s: %s", spec.name, busy)
            report.skipped = busy
            return report
        return _run(spec, lake, report, as_of, max_units, stop_at_end, max_polls)


def _run(spec: ConnectorSpec, lake: Lake, report: RunReport, as_of: date | None, max_units: int | None,
         stop_at_end: bool, max_polls: int | None) -> RunReport:
    run_id = runs.start(lake.cfg, spec.name)
    with logs.bound(ingest_run_id=run_id, connector=spec.name):  # on every record of the run (JSON logs)
        log.info("%s: run %d started", spec.name, run_id)
        report = _recorded(spec, lake, report, run_id, as_of, max_units, stop_at_end, max_polls)
        log.info("%s: run %d ok: %d units, %d received, %d landed, %d quarantined", spec.name, run_id,
                 report.units, report.received, report.landed, report.quarantined)
        return report


def _recorded(spec: ConnectorSpec, lake: Lake, report: RunReport, run_id: int, as_of: date | None,
              max_units: int | None, stop_at_end: bool, max_polls: int | None) -> RunReport:
    try:
        if spec.source.kind == "kafka":
            _consume(spec, lake, report, stop_at_end, max_polls)
        else:
            contract = lake.decl.contract(spec.dataset)
            while max_units is None or report.units < max_units:
                state = lake.state(spec.dataset, spec.name)
                unit = next(iter(_units(spec, lake, state, as_of)), None)
                if unit is None:
                    break
                batch, drift = unit_batch(spec, contract, unit, state, lake.cfg.parse_workers)
                batch = lookups.apply(lake, spec, batch)
                for name in spec.also:  # before the data commit: a crash between them replays both
                    report.also.setdefault(name, LandReport(dataset=name, batch_id=f"run:{name}")).add(
                        _land_also(lake, name, unit))
                report.drift.add(drift)
                report.land.add(land(lake, batch))
                report.units += 1
                if unit.done:
                    unit.done()
                if unit.last:
                    break
    except Exception as e:
        log.error("%s: run %d failed: %s: %s", spec.name, run_id, type(e).__name__, e)
        _finish(lake, run_id, report, "failed", f"{type(e).__name__}: {e}")
        alerts.alert(lake.cfg, "failed", spec.name, f"{type(e).__name__}: {e}")
        raise
    _finish(lake, run_id, report, "ok", None)
    for name, landed in report.also.items():
        also = RunReport(connector=name, units=report.units, land=landed)
        _finish(lake, runs.start(lake.cfg, name), also, "ok", None)
    if report.drift:
        log.warning("%s: schema drift %s", spec.name, report.drift.as_dict())
    return report


def _land_also(lake: Lake, name: str, unit: Unit) -> LandReport:
    """Another connector's batch of the same delivery, landed into its dataset with its state."""
    spec = lake.decl.connector(name)
    state = lake.state(spec.dataset, spec.name)
    batch, _ = unit_batch(spec, lake.decl.contract(spec.dataset), unit, state, lake.cfg.parse_workers)
    batch.rejects = []  # a page refused whole is quarantined once, by the connector that reads the delivery
    return land(lake, lookups.apply(lake, spec, batch))


def _consume(spec: ConnectorSpec, lake: Lake, report: RunReport, stop_at_end: bool, max_polls: int | None) -> None:
    cfg, contract = lake.cfg, lake.decl.contract(spec.dataset)
    with kafka.Topic(cfg.kafka_bootstrap, kafka.topic_of(spec, cfg), f"cityhub.{spec.name}",
                     cfg.kafka_max_records) as topic:
        start = lake.state(spec.dataset, spec.name).get("offsets", {})
        try:
            for poll in topic.polls(start, stop_at_end=stop_at_end, max_polls=max_polls):
                state = lake.state(spec.dataset, spec.name)
                new_state = {**state, "offsets": {**state.get("offsets", {}), **poll.offsets}}
                batch, drift = lines_batch(spec, contract, poll.values, poll.sources, poll.batch_id, new_state,
                                           now_cst().date())
                batch = lookups.apply(lake, spec, batch)
                report.drift.add(drift)
                report.units += 1
                report.land.add(land(lake, batch))
                topic.committed(new_state["offsets"])
        finally:
            report.gaps = topic.gaps
            for g in report.gaps:
                log.warning("%s: %s (%d messages)", spec.name, g.reason(), g.lost)


def dry_run(lake: Lake, name: str, sample: Path) -> tuple[Assessment, DriftFindings]:
    """What ``sample`` (a file in the connector's format) would land and what would
    be quarantined, and why; nothing is committed."""
    spec = lake.decl.connector(name)
    unit = Unit(id=f"sample:{sample.name}", as_of=now_cst().date(),
                payloads=[Payload(sample.name, sample.read_bytes(), None)])
    batch, drift = unit_batch(spec, lake.decl.contract(spec.dataset), unit, {}, lake.cfg.parse_workers)
    return assess(lake, lookups.apply(lake, spec, batch)), drift


def _finish(lake: Lake, run_id: int, report: RunReport, status: str, error: str | None) -> None:
    land_ = report.land or LandReport(dataset="", batch_id="")
    runs.finish(lake.cfg, run_id, status=status, units=report.units, received=land_.received, landed=land_.landed,
                quarantined=land_.quarantined, already_landed=land_.already_landed, corrected=land_.corrected,
                snapshot_id=land_.snapshot_id,
                drift=report.drift.as_dict() if report.drift else None,
                reasons={**land_.reasons, **{g.reason(): g.lost for g in report.gaps}}, error=error)


def run_all(lake: Lake, names: list[str] | None = None, as_of: date | None = None
            ) -> tuple[dict[str, RunReport], dict[str, CityHubError | Exception]]:
    """Run ``names`` (default: every declared connector) in declaration order; one that
    fails does not stop the others (its error is returned beside the reports)."""
    reports, failed = {}, {}
    for n in names or list(lake.decl.connectors):
        try:
            reports[n] = run(lake, n, as_of=as_of)
        except Exception as e:  # noqa: BLE001 - recorded in the run table and returned
            log.error("connector %s failed: %s", n, e)
            failed[n] = e
    return reports, failed
