"""A small camera world for indicators #4 and #5, written as the departments would
deliver it, with values counted by hand:

  key areas   371402: A1, A2, A3      371425: B1      371403: none
  cameras     C1 371402 A1 1080p  networked, catalogue OFF, events OFF 10:00 then ON 12:00 (delivered out of order)
              C2 371402 A1 D1     networked, catalogue OFF, event ON 09:00
              C3 371402 A2 D1     not networked
              C4 371402 --  1080p networked (watches no key area)
              C5 371425 B1 720p   networked, catalogue ON, event OFF 23:00, event ON next day 01:00
              C6 371425 B1 720p   not networked
              C7 371402 X9 1080p  networked, but X9 is not a declared key area
  the catalogue is delivered at 06:00 on 11-22 (CATALOGUE_AT, its file's write time): #4.2 takes a
  camera's newest observation, event or catalogue Status, so it is older than every event here
  (before definition version 2 an event always beat the catalogue, whatever their times)
  no row carries a township code: every row counts with its county (rows_without_township)

  by hand     371402: 4.1 = 1/3 (A1 only), 4.2 = 2/3 (C1, C2 of C1-C3), #4 = 0.5, #5 = 2/3
              371425: 4.1 = 1/1, 4.2 = 0/2 (C5 OFF at 23:00, C6 not networked), #4 = 0.5, #5 = 1/2
              371400, the standard's value: its main urban area, 371402 (德城区) only, no towns or
                      townships: 4.1 = 1/3, 4.2 = 2/3, #4 = 0.5, #5 = 2/3
              371400, whole area (the alternates 4.1.whole, 4.2.whole, 4.whole, 5.whole), from the
                      city's own rows over every county: 4.1 = 2/4, 4.2 = 2/5, #4 = 0.45, #5 = 3/5
                      (not the mean of the counties)
              371403: no key areas -> no value, with a reason
"""
from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from cityhub.core.time import CST
from cityhub.pipelines.ingest.runner import run_all

AREAS = """area_id,name,kind,region,longitude,latitude
KA-A1,德城区火车站,station,371402,116.30,37.45
KA-A2,德城区第一中学,school,371402,116.31,37.44
KA-A3,德城区人民医院,hospital,371402,,
KA-B1,齐河县人民广场,square,371425,116.75,36.79
"""
REGISTRY = """device_id,name,region,key_area_id,resolution,longitude,latitude,owner,install_date,address
37140200001310000001,C1,371402,KA-A1,1920x1080,116.30,37.45,德城分局,2020-01-01,新华路1号
37140200001310000002,C2,371402,KA-A1,704x576,116.30,37.45,德城分局,2020-01-01,新华路1号
37140200001310000003,C3,371402,KA-A2,704x576,116.31,37.44,德城分局,2020-01-01,新华路2号
37140200001310000004,C4,371402,,1920x1080,116.32,37.43,德城分局,2020-01-01,新华路3号
37142500001310000005,C5,371425,KA-B1,1280x720,116.75,36.79,齐河分局,2021-01-01,齐河路1号
37142500001310000006,C6,371425,KA-B1,1280x720,116.75,36.79,齐河分局,2021-01-01,齐河路1号
37140200001310000007,C7,371402,KA-X9,1920x1080,116.33,37.42,德城分局,2021-01-01,新华路4号
"""
ITEMS = [("37140200001310000001", "371402", "OFF"), ("37140200001310000002", "371402", "OFF"),
         ("37140200001310000004", "371402", "ON"), ("37142500001310000005", "371425", "ON"),
         ("37140200001310000007", "371402", "ON")]
EVENTS = [  # delivery order; C1's two events arrive out of order
    ("C1-2", "37140200001310000001", "ON", "2026-11-22T12:00:00+08:00"),
    ("C1-1", "37140200001310000001", "OFF", "2026-11-22T10:00:00+08:00"),
    ("C2-1", "37140200001310000002", "ON", "2026-11-22T09:00:00+08:00"),
    ("C5-1", "37142500001310000005", "OFF", "2026-11-22T23:00:00+08:00"),
    ("C5-2", "37142500001310000005", "ON", "2026-11-23T01:00:00+08:00"),
]
LATER_EVENTS = [  # a second delivery for the same day: C6 and C3 are not networked, C2 goes OFF at 20:00
    ("C6-1", "37142500001310000006", "ON", "2026-11-22T08:00:00+08:00"),
    ("C3-1", "37140200001310000003", "OFF", "2026-11-22T08:00:00+08:00"),
    ("C2-2", "37140200001310000002", "OFF", "2026-11-22T20:00:00+08:00"),
]


CATALOGUE_AT = datetime(2026, 11, 22, 6, 0, tzinfo=CST)
"""When the catalogue of ``ITEMS`` is delivered (its file's write time): its Status is
observed then, before every event of ``EVENTS``."""


def catalogue_page(items: list[tuple] = ITEMS) -> bytes:
    body = "".join(f"<Item><DeviceID>{d}</DeviceID><Name>cam</Name><CivilCode>{c}</CivilCode>"
                   f"<Status>{s}</Status></Item>" for d, c, s in items)
    return ('<?xml version="1.0" encoding="GB18030"?>\n<Response><CmdType>Catalog</CmdType><SN>1</SN>'
            f'<DeviceID>37140000002000000001</DeviceID><SumNum>{len(items)}</SumNum>'
            f'<DeviceList Num="{len(items)}">{body}</DeviceList></Response>').encode("gb18030")


def write_catalogue(drop_root: Path, file: str, at: datetime, items: list[tuple] = ITEMS) -> None:
    """A catalogue page as the platform drops it, delivered (written) at ``at``: the
    catalogue's Status counts as observed then (``camera_catalog.observed_at``)."""
    folder = drop_root / "cameras" / "catalog"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    path.write_bytes(catalogue_page(items))
    os.utime(path, (at.timestamp(), at.timestamp()))


def write_status(drop_root: Path, file: str, events: list[tuple]) -> None:
    """Status events as the camera platform drops them (JSON lines, in delivery order)."""
    folder = drop_root / "cameras" / "status"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file).write_text("".join(
        json.dumps({"event_id": i, "device_id": d, "civil_code": d[:6], "status": s, "event_time": t}) + "\n"
        for i, d, s, t in events))


def ingest_cameras(lake) -> dict:
    """Run every declared camera connector (those with no URL or broker are skipped)."""
    names = [n for n in lake.decl.connectors if n.startswith("camera_")]
    reports, failed = run_all(lake, names)
    assert not failed, failed
    return reports
