"""GB/T 28181 catalogues as real platforms send them (tests/data/gb28181/README.md names
each sample's source), through the declared connectors into the lake: what lands, what
lands where, and that none of it is quarantined as a faulty camera."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from cityhub.pipelines.ingest.runner import run

SAMPLES = Path(__file__).parents[2] / "data" / "gb28181"


@pytest.fixture
def drop(cfg):
    def put(*names: str) -> None:
        folder = cfg.drop_root / "cameras" / "catalog"
        folder.mkdir(parents=True, exist_ok=True)
        for n, name in enumerate(names, 1):
            shutil.copy(SAMPLES / name, folder / f"catalog_371400_20261122_p{n:04d}.xml")
    return put


def rows(lake, table: str) -> dict[str, dict]:
    key = "node_id" if table == "camera_directory" else "device_id"
    return {r[key]: r for r in lake.query(f"SELECT * FROM {table}", [table]).to_pylist()}


def quarantined(lake) -> list[dict]:
    if lake.snapshot_id("quarantine") is None:
        return []
    return lake.query("SELECT * FROM quarantine", ["quarantine"]).to_pylist()


def test_lowercase_catalogue_lands(lake, drop):
    drop("lowercase_elements.xml")
    report = run(lake, "camera_catalog_drop")
    assert (report.landed, report.quarantined) == (2, 0)
    landed = rows(lake, "camera_catalog")
    assert {d: r["status"] for d, r in landed.items()} == {"37140200001320000201": "ON", "37140200001320000202": "OFF"}


def test_unknown_coordinates_land_as_null_with_a_warning(lake, drop, caplog):
    drop("emulator_gb2312_zero_coords.xml")
    with caplog.at_level(logging.WARNING, logger="cityhub.connectors.mappings.cameras"):
        report = run(lake, "camera_catalog_drop")
    assert (report.landed, report.quarantined) == (4, 0), quarantined(lake)
    landed = rows(lake, "camera_catalog")
    unknown = ["37142500001310000101", "37142500001320000102", "37142500001310000104"]
    assert all(landed[d]["longitude"] is None and landed[d]["latitude"] is None for d in unknown)
    assert landed["37142500001310000103"]["longitude"] == pytest.approx(116.758)
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "3 devices without known coordinates" in warning and "37142500001320000102" in warning


def test_civil_codes_of_every_level_land_with_their_county(lake, drop):
    drop("emulator_gb2312_zero_coords.xml")
    run(lake, "camera_catalog_drop")
    landed = rows(lake, "camera_catalog")
    assert {r["civil_code"]: r["region"] for r in landed.values()} == {
        "371425": "371425", "3714": "371425", "371425001000": "371425", "37142500": "371425"}


def test_status_variants_are_normalised_by_the_declared_mapping(lake, drop):
    drop("emulator_gb2312_zero_coords.xml")
    run(lake, "camera_catalog_drop")
    assert {d[-3:]: r["status"] for d, r in rows(lake, "camera_catalog").items()} == {
        "101": "ON", "102": "ON", "103": "ON", "104": "OFF"}  # ON, online, ok, Off


def test_a_status_no_mapping_knows_is_still_refused(lake, drop, cfg):
    drop("lowercase_elements.xml")
    page = cfg.drop_root / "cameras" / "catalog" / "catalog_371400_20261122_p0001.xml"
    page.write_bytes(page.read_bytes().replace(b"<status>On</status>", b"<status>BROKEN</status>"))
    report = run(lake, "camera_catalog_drop")
    assert (report.landed, report.quarantined) == (1, 1)
    [q] = quarantined(lake)
    assert q["reason"].startswith("bad_status")


def test_directory_items_land_in_their_own_dataset_not_in_quarantine(lake, drop):
    drop("directory_tree.xml")
    report = run(lake, "camera_catalog_drop")
    tree = report.also["camera_directory"]
    assert (report.landed, report.quarantined) == (2, 0)
    assert (tree.landed, tree.quarantined) == (7, 0)
    kinds = {n: r["kind"] for n, r in rows(lake, "camera_directory").items()}
    assert kinds == {"37": "region", "3714": "region", "371425": "region", "37142510": "region",
                     "37140000002000000001": "system", "37140000002150000001": "business_group",
                     "37140000002160000001": "virtual_organisation"}
    assert rows(lake, "camera_directory")["37140000002160000001"]["parent_id"] == \
        "37140000002000000001/37140000002150000001"
    assert set(rows(lake, "camera_catalog")) == {"37142500001310000301", "37142500001320000302"}
    assert quarantined(lake) == []
    # the directory connector lands with the catalogue's deliveries, never on its own
    assert run(lake, "camera_directory").skipped
    again = run(lake, "camera_catalog_drop")
    assert again.units == 0 and again.also == {}


def test_an_incomplete_delivery_never_replaces_the_last_complete_catalogue(lake, cfg):
    """Day 22 delivered whole; day 23 only 1 of its SumNum's 180 items: the catalogue
    the hub counts stays day 22's, and the short delivery is kept with its reason."""
    folder = cfg.drop_root / "cameras" / "catalog"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLES / "lowercase_elements.xml", folder / "catalog_371400_20261122_p0001.xml")
    shutil.copy(SAMPLES / "short_delivery.xml", folder / "catalog_371400_20261123_p0001.xml")
    report = run(lake, "camera_catalog_drop")
    assert (report.landed, report.quarantined) == (2, 1)
    assert report.land.reasons == {"incomplete_delivery": 1}
    [q] = quarantined(lake)
    assert q["source"] == "catalog_371400_20261123_p0001.xml" and "<SumNum>180</SumNum>" in q["raw"]
    newest = lake.query("SELECT max(as_of) AS d FROM camera_catalog", ["camera_catalog"])["d"][0].as_py()
    assert newest.isoformat() == "2026-11-22"


def test_catalog_notifications_land_as_changes_with_their_event(lake, cfg):
    folder = cfg.drop_root / "cameras" / "catalog_notify"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLES / "notify_catalog_events.xml", folder / "catalog_notify_20261122_0001.xml")
    report = run(lake, "camera_catalog_notify_drop")
    assert (report.landed, report.quarantined) == (7, 0)
    landed = {r["device_id"][-3:]: r for r in
              lake.query("SELECT * FROM camera_catalog_changes", ["camera_catalog_changes"]).to_pylist()}
    assert {k: r["event"] for k, r in landed.items()} == {
        "401": "ADD", "402": "DEL", "403": "UPDATE", "404": "ON", "405": "OFF", "406": "VLOST", "407": "DEFECT"}
    assert landed["401"]["status"] == "ON" and landed["402"]["region"] == "371425"  # DEL: county from its DeviceID
    assert all(r["sn"] == "422214" and r["observed_at"] is not None for r in landed.values())
    # the items that report a device's state are status events too: video lost or faulty is not working
    status = report.also["camera_status_notify"]
    assert (status.landed, status.quarantined) == (4, 0)
    events = {r["device_id"][-3:]: r["status"] for r in
              lake.query("SELECT * FROM camera_status", ["camera_status"]).to_pylist()}
    assert events == {"404": "ON", "405": "OFF", "406": "OFF", "407": "OFF"}
    assert {r["event_id"] for r in lake.query("SELECT event_id FROM camera_status", ["camera_status"]).to_pylist()} \
        == {f"37140000002000000001:422214:3714250000131000040{n}:{e}"
            for n, e in ((4, "ON"), (5, "OFF"), (6, "VLOST"), (7, "DEFECT"))}


def test_a_notification_is_never_taken_for_the_catalogue_of_the_day(lake, drop):
    drop("notify_catalog_events.xml")
    report = run(lake, "camera_catalog_drop")
    assert (report.landed, report.quarantined) == (0, 1)
    assert report.land.reasons == {"wrong_message": 1}
    assert lake.snapshot_id("camera_catalog") is None
