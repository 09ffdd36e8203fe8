"""How the conformance suite feeds each declared connector: a simulated world
delivered the way the real source delivers it (files in the drop folders, an HTTP
server on loopback, a Kafka topic), the faults that world injected, and which
quarantine reasons each fault must produce.

Every declared connector must have a delivery: one here, or the sample files its
declaration names (``conformance:``). The suite fails for a connector that has
neither, so a new connector comes with its conformance data.

Settings are built once: a delivery that puts its source somewhere (a URL, a topic,
a database, the broker) returns the settings that reach it, and the suite builds
its lake from those.
"""
from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

from cityhub.core.settings import Settings
from cityhub.declarations import Declarations

DAY = date(2026, 11, 22)

# fault kind -> reason codes that may stand for it in quarantine
REASONS = {
    # cameras
    "duplicate_item": {"duplicate_key"}, "device_id_length": {"device_id_length"},
    "device_id_prefix_mismatch": {"device_id_prefix_mismatch"}, "unknown_civil_code": {"unknown_civil_code"},
    "missing_status": {"missing_status"}, "truncated_xml": {"malformed_xml"},
    "wrong_encoding_declaration": {"wrong_encoding"}, "duplicate_event": {"duplicate_key"},
    "malformed_event": {"malformed_json", "missing_event_id", "missing_device_id", "missing_status",
                        "missing_event_time", "missing_intersection_id", "missing_kind"},
    # traffic
    "bad_region": {"unknown_region"}, "unknown_control_mode": {"unknown_control_mode"},
    "missing_id": {"missing_intersection_id"}, "bad_type": {"schema_drift"},
    "unknown_intersection": {"unknown_intersection"},
    # medical
    "bad_uscc_check": {"bad_uscc"}, "missing_identifier": {"missing_uscc"}, "unknown_region": {"unknown_region"},
    "bad_level": {"bad_level"}, "duplicate_organization": {"duplicate_key"}, "truncated_bundle": {"malformed_json"},
    "negative_visits": {"bad_visits"}, "unknown_channel": {"unknown_channel"},
    "unknown_institution": {"unknown_institution"}, "non_numeric_visits": {"bad_visits"},
    # social security
    "bad_id_check": {"bad_id_number"}, "bad_id_birthdate": {"bad_id_number"},
    "unknown_business_type": {"unknown_business_type"}, "end_before_start": {"end_before_start"},
    "duplicate_serial": {"duplicate_key"}, "wrong_encoding": {"wrong_encoding"},
    # injected by this module into CSV drops the simulators deliver clean
    "csv_short_line": {"malformed_csv"}, "csv_bad_device_id": {"device_id_length"},
    "csv_unknown_region": {"unknown_region"}, "csv_bad_longitude": {"bad_longitude"},
    # the example SQL feed
    "bus_unknown_region": {"unknown_region"}, "bus_bad_flag": {"bad_e_board", "schema_drift"},
    "bus_duplicate": {"duplicate_key"},
}
# fault kind -> the drift finding it must produce (the row still lands)
DRIFT = {"new_field": "new_fields", "missing_field": "missing_fields", "extra_column": "new_fields"}


def reasons_of(fault: dict) -> set[str]:
    """The reason codes that may stand for ``fault`` in quarantine (a declared
    delivery names its reason; a simulated fault's kind maps to them)."""
    return {fault["reason"]} if "reason" in fault else REASONS[fault["kind"]]


def drift_of(fault: dict) -> str:
    """The drift finding a ``drift`` fault must produce."""
    return fault.get("finding") or DRIFT[fault["kind"]]


Deliver = Callable[[Settings, "str | None"], "tuple[Settings, Callable[[], None]]"]


@dataclass
class Delivery:
    deliver: Deliver
    """(the test's settings, Kafka bootstrap) -> sets the source up; returns the
    settings that reach it and a function that stops it."""
    faults: list[dict]
    """The fault manifest; deliver() may add the faults it injects itself."""
    needle: Callable[[dict], str | None]
    """A string that identifies the fault's item in a quarantine row (its key, raw text
    or source); None when the item has no identity left (a line cut short): such
    faults are checked by count."""
    before: list[str] = field(default_factory=list)
    """Connectors to run first (reference data the checks need)."""
    kafka: bool = False


def _nothing() -> None:
    return None


# -- cameras ----------------------------------------------------------------------------


def _camera_world(clean: bool):
    from cityhub_sim.cameras import SimConfig, generate
    return generate(SimConfig(cameras_per_county=30, key_areas_per_county=6, day=DAY,
                              fault_rate=0 if clean else 0.03, page_size=100))


def _camera_needle(http: bool) -> Callable[[dict], str | None]:
    def needle(f: dict) -> str | None:
        if isinstance(f["key"], int):
            return f"catalog?page={f['key']}" if http else f"_p{f['key']:04d}.xml"
        return None if str(f["key"]).startswith("malformed-") else str(f["key"])
    return needle


def _spoil_csv(path: Path, bad_rows: list[tuple[str, list[str]]]) -> list[dict]:
    """Append faulty lines to a delivered CSV; returns their manifest entries."""
    faults, lines = [], []
    for i, (kind, values) in enumerate(bad_rows):
        key = f"SPOILED{i:03d}"
        values = [v.replace("{key}", key) for v in values]
        lines.append(",".join(values))
        faults.append({"source": "csv", "kind": kind, "key": key, "expect": "quarantine"})
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return faults


def cameras(decl: Declarations, name: str, clean: bool) -> Delivery:
    from cityhub_sim.cameras import publish_events, serve_catalog, write_drop

    w = _camera_world(clean)
    part = {"camera_key_areas": "key_areas", "camera_registry": "registry", "camera_catalog_drop": "catalog",
            "camera_status_drop": "status"}
    src = {"camera_catalog_drop": "catalog", "camera_catalog_http": "catalog", "camera_status_drop": "events",
           "camera_status_kafka": "events"}
    faults = [f for f in w.faults if f["source"] == src.get(name)]

    def deliver(cfg: Settings, bootstrap: str | None):
        if name in part:
            paths = write_drop(w, cfg.drop_root, parts=(part[name],))[part[name]]
            if not clean and name == "camera_registry":
                faults.extend(_spoil_csv(paths[0], [
                    ("csv_short_line", ["{key}", "x"]),
                    ("csv_bad_device_id", ["3714020000131{key}", "cam", "371402", "", "", "1920x1080", "116.3", "37.4",
                                           "o", "2020-01-01", "a"]),
                    ("csv_unknown_region", ["37149900001310000999", "{key}", "371499", "", "", "1920x1080", "116.3",
                                            "37.4", "o", "2020-01-01", "a"]),
                ]))
            if not clean and name == "camera_key_areas":
                faults.extend(_spoil_csv(paths[0], [
                    ("csv_unknown_region", ["{key}", "area", "square", "371499", "", "116.3", "37.4"]),
                    ("csv_bad_longitude", ["{key}", "area", "square", "371402", "", "east", "37.4"]),
                    ("csv_short_line", ["{key}", "area"]),
                ]))
            return cfg, _nothing
        if name == "camera_catalog_http":
            server, url = serve_catalog(w.catalog_pages)
            return cfg.with_connector(name, url=url), server.shutdown
        topic = f"status-{uuid.uuid4().hex[:8]}"
        _topic(bootstrap, topic)
        publish_events(w.events, bootstrap, topic)
        return _with_broker(cfg, bootstrap).with_connector(name, topic=topic), _nothing

    return Delivery(deliver, faults, _camera_needle(name.endswith("_http")), kafka=name.endswith("_kafka"))


# -- traffic ----------------------------------------------------------------------------


def traffic(decl: Declarations, name: str, clean: bool) -> Delivery:
    from cityhub_sim import traffic as sim

    w = sim.generate(sim.TrafficConfig(intersections_per_county=30, fault_rate=0 if clean else 0.03, day=DAY))
    events = "events" in name
    faults = [f for f in w.faults if f["source"] == ("events" if events else "inventory")]

    def deliver(cfg: Settings, bootstrap: str | None):
        sim.write_drop(w, cfg.drop_root)  # the events need the inventory landed first
        if name == "traffic_intersections_http":
            server, url = sim.serve_inventory(w, fail_every=4)  # every 4th request a 503: retried
            return cfg.with_connector(name, url=url), server.shutdown
        if name == "traffic_signal_events_kafka":
            topic = f"signals-{uuid.uuid4().hex[:8]}"
            _topic(bootstrap, topic)
            sim.publish_events(w, bootstrap, topic)
            return _with_broker(cfg, bootstrap).with_connector(name, topic=topic), _nothing
        return cfg, _nothing

    def needle(f: dict) -> str | None:
        if f["kind"] == "missing_id":
            return f.get("name")
        return None if str(f["key"]).startswith("malformed-") else str(f["key"])

    return Delivery(deliver, faults, needle, before=["traffic_intersections_drop"] if events else [],
                    kafka=name.endswith("_kafka"))


# -- medical ----------------------------------------------------------------------------


def medical(decl: Declarations, name: str, clean: bool) -> Delivery:
    from cityhub_sim import medical as sim

    w = sim.generate(sim.MedicalConfig(institutions_per_county=100, days=2, start=DAY,
                                       fault_rate=0 if clean else 0.03))
    if name == "medical_visits_drop":
        faults = [f for d in (DAY, date(2026, 11, 23)) for f in sim.visit_faults(w, d)]
    else:
        faults = [f for f in w.faults if f["source"] == "registry"
                  and not (name.endswith("_http") and f["kind"] == "truncated_bundle")]

    def deliver(cfg: Settings, bootstrap: str | None):
        sim.write_drop(w, cfg.drop_root)
        if name == "medical_institutions_http":
            server, url = sim.serve_registry(w, fail_every=5)
            return cfg.with_connector(name, url=url), server.shutdown
        return cfg, _nothing

    def needle(f: dict) -> str:
        return f"_b{f['key']:04d}.json" if isinstance(f["key"], int) else str(f["key"])

    return Delivery(deliver, faults, needle,
                    before=["medical_institutions_drop"] if name == "medical_visits_drop" else [])


# -- social security ----------------------------------------------------------------------


def social_security(decl: Declarations, name: str, clean: bool) -> Delivery:
    from cityhub_sim import social_security as sim

    w = sim.generate(sim.SocialSecurityConfig(start=DAY, days=4, records_per_day=400,
                                              fault_rate=0 if clean else 0.04))

    def deliver(cfg: Settings, bootstrap: str | None):
        sim.write_drop(w, cfg.drop_root)
        return cfg, _nothing

    return Delivery(deliver, w.faults, lambda f: str(f["key"]))


# -- the example SQL feed (docs/connectors.md) -----------------------------------------------


def bus_stops(decl: Declarations, name: str, clean: bool) -> Delivery:
    """A transit company's SQLite database with a stop_boards table."""
    import random
    import sqlite3

    rng = random.Random(7)
    counties = list(decl.city("371400").counties)
    rows, faults = [], []
    for i in range(600):
        rows.append((f"BS{i:05d}", f"站{i}", rng.choice(counties), int(rng.random() < 0.4), rng.randint(1, 12),
                     f"2026-11-{1 + i % 22:02d} {i % 24:02d}:{i % 60:02d}:00"))
    if not clean:
        for i, kind in enumerate(["bus_unknown_region", "bus_bad_flag", "bus_duplicate"] * 2):
            sid = f"BX{i:05d}"
            row = [sid, f"坏站{i}", counties[0], 1, 3, f"2026-11-23 0{i}:00:00"]
            if kind == "bus_unknown_region":
                row[2] = "371499"
            elif kind == "bus_bad_flag":
                row[3] = "maybe"
            else:
                rows.append(tuple(row))
                row[5] = f"2026-11-23 0{i}:30:00"
            rows.append(tuple(row))
            faults.append({"source": "sql", "kind": kind, "key": sid, "expect": "quarantine"})

    def deliver(cfg: Settings, bootstrap: str | None):
        drop = cfg.drop_root
        drop.mkdir(parents=True, exist_ok=True)
        db = drop / f"transit-{uuid.uuid4().hex[:6]}.db"
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE stop_boards (stop_id TEXT, stop_name TEXT, county_code TEXT, has_e_board, "
                    "route_count INTEGER, updated_at TEXT)")
        con.executemany("INSERT INTO stop_boards VALUES (?, ?, ?, ?, ?, ?)", rows)
        con.commit()
        con.close()
        return cfg.with_connector(name, url=f"sqlite:///{db}"), _nothing

    return Delivery(deliver, faults, lambda f: str(f["key"]))


# -- a delivery the declaration names (sample files, no Python) --------------------------------


def declared(decl: Declarations, name: str, clean: bool) -> Delivery:
    """The sample files of the connector's ``conformance`` declaration, copied into its
    drop folder, after the clean deliveries of the connectors it names in ``before``."""
    from cityhub.connectors.sources.file_drop import folder

    spec = decl.connector(name)
    conf = spec.conformance
    samples = decl.root / "connectors"
    faults = [] if clean else (
        [{"source": "declared", "kind": r.reason, "reason": r.reason, "key": r.item, "expect": "quarantine"}
         for r in conf.faulty.quarantine]
        + [{"source": "declared", "kind": d, "finding": d, "key": None, "expect": "drift"} for d in conf.faulty.drift])

    def deliver(cfg: Settings, bootstrap: str | None):
        stops = []
        for b in conf.before:  # their clean deliveries, declared or simulated
            cfg, stop = delivery(decl, b, clean=True).deliver(cfg, bootstrap)
            stops.append(stop)
        files = conf.clean if clean else conf.faulty.files
        into = folder(spec, cfg)
        into.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(samples / f, into / Path(f).name)
        return cfg, lambda: [stop() for stop in stops]

    return Delivery(deliver, faults, lambda f: f["key"], before=list(conf.before))


# -- plumbing ----------------------------------------------------------------------------------


def _topic(bootstrap: str | None, topic: str) -> None:
    from cityhub.connectors.sources.kafka import ensure_topic
    assert bootstrap, "a Kafka connector needs the broker fixture"
    ensure_topic(bootstrap, topic, partitions=2)


def _with_broker(cfg: Settings, bootstrap: str | None) -> Settings:
    return cfg.model_copy(update={"kafka_bootstrap": bootstrap})


FEEDS = {"camera_": cameras, "traffic_": traffic, "medical_": medical, "social_security_": social_security,
         "bus_stop_boards_": bus_stops}


def delivery(decl: Declarations, name: str, clean: bool = False) -> Delivery:
    if decl.connector(name).conformance is not None:
        return declared(decl, name, clean)
    for prefix, make in FEEDS.items():
        if name.startswith(prefix):
            return make(decl, name, clean)
    raise LookupError(f"connector {name} has no conformance delivery: declare its sample files "
                      f"(conformance:) or add one to tests/integration/connectors/conformance.py")
