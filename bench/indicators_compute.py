"""Benchmark: every declared indicator for Dezhou (371400) and its 11 counties over
50 million event rows, year to date and for every period kind.

    .venv/bin/python bench/indicators_compute.py [--rows 50000000] [--repeat 3] [--keep DIR] [--day YYYY-MM-DD]

First builds, in a temporary hub home (or in --keep DIR, reused when it already holds
a generated lake), a lake of synthetic but contract-consistent data from 1 January to
--day (default: today, CST): the snapshot datasets at a city's real sizes (~1,500 key
areas and ~100k registered cameras in quarterly lists, a ~92k-device catalogue on 5
dates, ~2,000 intersections with their versions, ~6,000 medical institutions on 5
dates) and --rows event rows: 70% camera_status, 20% traffic_signal_events, ~6%
medical_visits, the rest social_security_records. Columns are generated with numpy
and pyarrow and committed through ``Lake.commit`` in time-ordered chunks of
--chunk-rows (commit sorts by the contract's sort_by, as production does). The
generation runs in a child process (its time and peak memory are printed apart and
are not part of the target).

Then times ``cityhub.pipelines.indicators.engine.compute`` (best of --repeat): the year to date alone
and all period kinds (day, month, year, and "now" when --day is today), total and per
indicator (per indicator and period with ``evaluate``, which is ``compute`` without the
indicator_values commit). Target: all periods <= 10 s on this 2-core machine.

The hub's settings are built here, not read from the environment by the hub:
``Settings(home=<the bench's home>, city=371400)`` with the lake, the catalogue, the hub
database and the drop folders all under that home (whatever ``CITYHUB_LAKE``,
``CITYHUB_CATALOG_URI``, ``CITYHUB_DB_URI`` or ``CITYHUB_DROP`` say).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from cityhub.core.settings import Settings
from cityhub.core.time import now_cst
from cityhub.lake import Lake
from cityhub.lake.tables import NAMESPACE, _local
from cityhub.pipelines import sharing
from cityhub.pipelines.indicators.engine import compute, evaluate
from cityhub.pipelines.indicators.periods import PERIOD_KINDS, period

CITY = "371400"
TARGET_S = 10.0
META = "bench_indicators.json"

# shares of --rows per event dataset; social_security_records takes what is left
SHARES = {"camera_status": 0.70, "traffic_signal_events": 0.20, "medical_visits": 0.06}

# snapshot sizes: what a city of Dezhou's size has
KEY_AREAS_PER_COUNTY = 136          # ~1,500
CAMERAS_PER_COUNTY = 9_100          # ~100k
INTERSECTIONS_PER_COUNTY = 182      # ~2,000
INSTITUTIONS_PER_COUNTY = 545       # ~6,000

US = 1_000_000  # microseconds per second


# --------------------------------------------------------------------------- column helpers

def _digits(values, width: int):
    """(n, width) ASCII digit matrix of non-negative integers, zero-padded."""
    import numpy as np

    v = np.asarray(values, dtype=np.int64).copy()
    out = np.empty((len(v), width), np.uint8)
    for k in range(width - 1, -1, -1):
        out[:, k] = 48 + v % 10
        v //= 10
    return out


def _fixed(words: list[str]):
    """(k, width) byte matrix of equal-length ASCII words."""
    import numpy as np

    return np.frombuffer("".join(words).encode("ascii"), np.uint8).reshape(len(words), -1)


def _strings(n: int, *parts):
    """An Arrow string column from fixed-width ASCII parts: bytes constants or (n, w) matrices."""
    import numpy as np
    import pyarrow as pa

    mats = [np.broadcast_to(np.frombuffer(p, np.uint8), (n, len(p))) if isinstance(p, bytes) else p
            for p in parts]
    m = np.ascontiguousarray(np.hstack(mats))
    return pa.array(m.view(f"S{m.shape[1]}").ravel()).cast(pa.string())


def _pick(values: list, idx):
    """values[idx] as an Arrow array (dictionary-style take; values may hold None)."""
    import pyarrow as pa

    return pa.array(values).take(pa.array(idx))


def _join(*cols, sep: str = ""):
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(*cols, sep)


def _ts(t0: datetime, offsets_us):
    """Naive timestamps (CST, microseconds) t0 + offsets."""
    import numpy as np
    import pyarrow as pa

    base = np.datetime64(t0, "us")
    return pa.array(base + np.asarray(offsets_us, dtype="timedelta64[us]"), pa.timestamp("us"))


def _dates(d0: date, offsets_days):
    import numpy as np
    import pyarrow as pa

    return pa.array(np.datetime64(d0, "D") + np.asarray(offsets_days, dtype="timedelta64[D]"), pa.date32())


def _choice(rng, n: int, weights) -> "np.ndarray":
    import numpy as np

    w = np.asarray(weights, dtype=float)
    return rng.choice(len(w), size=n, p=w / w.sum())


# --------------------------------------------------------------------------- the synthetic city

KINDS = ("station", "square", "hospital", "school", "commercial", "scenic", "government")
KIND_WEIGHTS = (10, 12, 15, 25, 18, 8, 12)
KIND_WORDS = {"station": "汽车站", "square": "广场", "hospital": "医院", "school": "中学",
              "commercial": "商业中心", "scenic": "公园", "government": "政务服务中心"}
ROADS = ("新华路", "人民路", "解放路", "建设路", "文化路", "胜利路", "和平路", "中山路", "东风路",
         "长河大道", "湖滨路", "振华路", "天衢路", "迎宾路", "光明街", "跃进路", "青年路", "育才路")
INDUSTRIES = ("00", "01", "02", "03", "04", "05", "13")
INDUSTRY_WEIGHTS = (55, 15, 5, 5, 10, 5, 5)
RESOLUTIONS = ("1920x1080", "1280x720", "704x576")
RESOLUTION_WEIGHTS = (74, 16, 10)
RESOLUTION_CODES = ("6/5/4", "5/4", "4")
VENDORS = (("Hikvision", "DS-2CD3T46WD-I3"), ("Dahua", "DH-IPC-HFW4433M-I2"), ("Uniview", "IPC2124LB-SF40"),
           ("Tiandy", "TC-NC9401S3E"))
VENDOR_WEIGHTS = (45, 35, 12, 8)
CONTROL_MODES = ("fixed_time", "actuated", "adaptive", "coordinated", "manual", "flashing", "off")
CONTROL_WEIGHTS = (40, 20, 18, 15, 3, 3, 1)
SIGNAL_KINDS = ("mode_change", "fault", "offline", "online")
SIGNAL_WEIGHTS = (50, 10, 20, 20)
INSTITUTION_KINDS = ("general_hospital", "tcm_hospital", "specialist_hospital", "township_health_centre",
                     "community_health_centre", "village_clinic", "clinic")
INSTITUTION_WEIGHTS = (3, 1, 2, 5, 4, 65, 20)
# level distribution per kind: "3", "2", "1", "ungraded"
LEVELS = ("3", "2", "1", "ungraded")
LEVEL_BY_KIND = ((25, 60, 15, 0), (10, 70, 20, 0), (5, 45, 50, 0), (0, 5, 95, 0), (0, 0, 90, 10),
                 (0, 0, 0, 100), (0, 0, 3, 97))
NETWORKED_BY_KIND = (0.99, 0.98, 0.95, 0.92, 0.9, 0.55, 0.35)
DAILY_VISITS_BY_LEVEL = (2500.0, 700.0, 90.0, 25.0)
VISIT_CHANNELS = ("phone", "web", "app", "onsite_appointment", "walk_in")
CHANNEL_SHARE_BY_LEVEL = ((0.06, 0.12, 0.30, 0.17, 0.35), (0.05, 0.10, 0.22, 0.18, 0.45),
                          (0.02, 0.04, 0.08, 0.10, 0.76), (0.01, 0.01, 0.02, 0.06, 0.90))
# social security: (code, share %, channel weights counter/web/app/self_service, status accepted/completed/returned)
SS_TYPES = (
    ("SI_TRANSFER", "社会保险关系转移接续", 5, (20, 45, 30, 5), (40, 55, 5)),
    ("PENSION_QUALIFICATION", "异地居住退休人员领取待遇资格认证", 4, (10, 15, 65, 10), (3, 95, 2)),
    ("MEDICAL_SETTLEMENT", "跨省异地就医结算备案", 4, (15, 30, 50, 5), (8, 89, 3)),
    ("PENSION_STATUS_QUERY", "养老保险待遇状态比对查询", 2, (5, 50, 40, 5), (1, 98, 1)),
    ("SSC_APPLY", "社保卡申领", 16, (45, 10, 20, 25), (12, 85, 3)),
    ("ENROL", "参保登记", 10, (50, 30, 15, 5), (8, 88, 4)),
    ("CONTRIB_BASE", "缴费基数申报", 12, (30, 60, 5, 5), (6, 90, 4)),
    ("UNEMPLOYMENT", "失业保险金申领", 8, (35, 25, 35, 5), (20, 72, 8)),
    ("INJURY", "工伤认定", 2, (85, 15, 0, 0), (80, 10, 10)),
    ("RECORD_QUERY", "个人权益记录查询", 20, (10, 25, 45, 20), (1, 98, 1)),
    ("FLEXIBLE_ENROL", "灵活就业人员参保", 9, (35, 20, 40, 5), (8, 88, 4)),
    ("MATERNITY", "生育津贴申领", 8, (40, 30, 25, 5), (25, 68, 7)),
)
SS_CHANNELS = ("counter", "web", "app", "self_service")
SS_REMOTE_SHARE = (0.55, 0.95, 0.95, 0.70)  # cross-region records through the ministry/province link
SS_STATUSES = ("accepted", "completed", "returned")
SURNAMES = ("王", "张", "李", "刘", "孙", "杨", "赵", "陈", "马", "高", "徐", "田", "郭", "周")
GIVEN = ("伟", "强", "磊", "军", "芳", "娜", "敏", "静", "建国", "秀英", "志刚", "玉兰", "浩然", "欣怡")
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def _deliveries(first: date, last: date, months: tuple[int, ...], with_last: bool) -> list[date]:
    out = [date(first.year, m, 1) for m in months if date(first.year, m, 1) <= last]
    if with_last and last not in out:
        out.append(last)
    return out


def _commit(lake, name: str, table, batch: str, counts: dict) -> None:
    lake.commit(name, table, connector="bench", batch_id=batch)
    counts[name] = counts.get(name, 0) + table.num_rows


def settings(home: str | Path) -> Settings:
    """The bench's hub: everything under ``home``, for the city the bench generates."""
    return Settings(home=home, lake_uri="", catalog_uri="", hub_db_uri="", drop_root=None, city=CITY)


def generate(home: str, rows: int, day: date, chunk_rows: int, seed: int) -> dict:
    """Build the lake under ``home``; returns what was made."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    lake = Lake(settings(home))
    c = lake.decl.city(CITY)
    counties = list(c.counties)
    names = [c.counties[k] for k in counties]
    nc = len(counties)
    county_mat = _fixed(counties)
    y0 = date(day.year, 1, 1)
    t0 = datetime(day.year, 1, 1)
    days = (day - y0).days + 1
    span_us = days * 86_400 * US
    counts: dict[str, int] = {}
    timings: dict[str, float] = {}
    centre_lon = 116.2 + np.arange(nc) * 0.12
    centre_lat = 37.1 + (np.arange(nc) % 4) * 0.15

    # -- key areas: quarterly lists; 5% of the areas are added during the year
    t = time.perf_counter()
    ka_county = np.repeat(np.arange(nc), KEY_AREAS_PER_COUNTY)
    ka_serial = np.tile(np.arange(1, KEY_AREAS_PER_COUNTY + 1), nc)
    n_ka = len(ka_county)
    ka_id = _strings(n_ka, b"KA", county_mat[ka_county], b"-", _digits(ka_serial, 4))
    ka_kind = _choice(rng, n_ka, KIND_WEIGHTS)
    ka_profile = rng.random(n_ka)  # < 0.04: no camera at all, < 0.12: SD cameras only
    ka_added = np.where(rng.random(n_ka) < 0.05, rng.integers(0, days, n_ka), -1)
    ka_name = _join(_pick(names, ka_county), _pick(list(ROADS), rng.integers(0, len(ROADS), n_ka)),
                    _pick([KIND_WORDS[k] for k in KINDS], ka_kind), pa.array(ka_serial).cast(pa.string()))
    ka = pa.table({
        "area_id": ka_id, "name": ka_name, "kind": _pick(list(KINDS), ka_kind),
        "region": _pick(counties, ka_county),
        "longitude": centre_lon[ka_county] + rng.normal(0, 0.05, n_ka),
        "latitude": centre_lat[ka_county] + rng.normal(0, 0.04, n_ka),
    })
    for d in _deliveries(y0, day, (1, 4, 7, 10), with_last=False):
        keep = ka_added < (d - y0).days
        _commit(lake, "key_areas", ka.filter(pa.array(keep)).append_column(
            "as_of", _dates(d, np.zeros(int(keep.sum()), int))), f"key_areas:{d}", counts)

    # -- camera registry (quarterly) and the sharing platform's catalogue (5 dates)
    cam_county = np.repeat(np.arange(nc), CAMERAS_PER_COUNTY)
    cam_serial = np.tile(np.arange(1, CAMERAS_PER_COUNTY + 1), nc)
    n_cam = len(cam_county)
    industry = _choice(rng, n_cam, INDUSTRY_WEIGHTS)
    ptz = rng.random(n_cam) < 0.2
    cam_dev = _strings(n_cam, county_mat[cam_county], b"00", _fixed(list(INDUSTRIES))[industry],
                       np.where(ptz[:, None], _fixed(["132"]), _fixed(["131"])), b"0", _digits(cam_serial, 6))
    # 60% of the cameras watch a key area of their county (never a "no camera" area)
    watch = rng.random(n_cam) < 0.60
    area = np.full(n_cam, -1)
    for k in range(nc):
        ok = np.nonzero((ka_county == k) & (ka_profile >= 0.04))[0]
        m = watch & (cam_county == k)
        area[m] = ok[rng.integers(0, len(ok), int(m.sum()))]
    res = _choice(rng, n_cam, RESOLUTION_WEIGHTS)
    res[(area >= 0) & (ka_profile[np.maximum(area, 0)] < 0.12)] = 2  # SD-only areas
    installed = np.where(rng.random(n_cam) < 0.12, rng.integers(0, days, n_cam),
                         -rng.integers(1, 10 * 365, n_cam))  # day offset from 1 January
    road = rng.integers(0, len(ROADS), n_cam)
    cam_name = _join(_pick(names, cam_county), _pick(list(ROADS), road), pa.array(cam_serial).cast(pa.string()),
                     pa.array(["号"] * n_cam))
    cam_addr = _join(pa.array([c.name] * n_cam), _pick(names, cam_county), _pick(list(ROADS), road),
                     pa.array(rng.integers(1, 400, n_cam)).cast(pa.string()), pa.array(["号"] * n_cam))
    lon = centre_lon[cam_county] + rng.normal(0, 0.06, n_cam)
    lat = centre_lat[cam_county] + rng.normal(0, 0.05, n_cam)
    owners = [f"{n}公安局" for n in names]
    registry = pa.table({
        "device_id": cam_dev, "name": cam_name, "region": _pick(counties, cam_county),
        "key_area_id": ka_id.take(pa.array(np.where(area >= 0, area, None), pa.int64())),
        "resolution": _pick(list(RESOLUTIONS), res), "hd": res < 2, "longitude": lon, "latitude": lat,
        "owner": _pick(owners, cam_county), "install_date": _dates(y0, installed), "address": cam_addr,
    })
    for d in _deliveries(y0, day, (1, 4, 7, 10), with_last=False):
        keep = installed <= (d - y0).days
        _commit(lake, "camera_registry", registry.filter(pa.array(keep)).append_column(
            "as_of", _dates(d, np.zeros(int(keep.sum()), int))), f"camera_registry:{d}", counts)

    # the catalogue: 90% of the registered cameras are networked, plus 2% devices missing from the registry
    networked = rng.random(n_cam) < 0.90
    n_extra = int(n_cam * 0.02)
    ex_county = rng.integers(0, nc, n_extra)
    ex_dev = _strings(n_extra, county_mat[ex_county], b"0000131", b"1", _digits(np.arange(n_extra), 5),
                      _digits(np.zeros(n_extra, int), 1))
    dev_idx = np.nonzero(networked)[0]
    dev = pa.concat_arrays([cam_dev.take(pa.array(dev_idx)), ex_dev])
    dev_county = np.concatenate([cam_county[dev_idx], ex_county])
    dev_installed = np.concatenate([installed[dev_idx], np.full(n_extra, -30)])
    dev_res = np.concatenate([res[dev_idx], rng.integers(0, 3, n_extra)])
    n_dev = len(dev)
    health = rng.beta(14, 1.2, n_dev)  # chance that a device's status is ON
    activity = rng.lognormal(0, 1.0, n_dev)  # how chatty a device is (flapping ones report a lot)
    vendor = _choice(rng, n_dev, VENDOR_WEIGHTS)
    platform = f"{CITY}0000200" + "0000001"
    catalog = pa.table({
        "device_id": dev,
        "name": pa.concat_arrays([cam_name.take(pa.array(dev_idx)), pa.array(["未登记设备"] * n_extra)]),
        "manufacturer": _pick([v[0] for v in VENDORS], vendor), "model": _pick([v[1] for v in VENDORS], vendor),
        "civil_code": _pick(counties, dev_county), "region": _pick(counties, dev_county),
        "address": pa.concat_arrays([cam_addr.take(pa.array(dev_idx)), pa.array([None] * n_extra, pa.string())]),
        "parent_id": pa.array([platform] * n_dev),
        "longitude": np.concatenate([lon[dev_idx], centre_lon[ex_county]]),
        "latitude": np.concatenate([lat[dev_idx], centre_lat[ex_county]]),
        "resolution_codes": _pick(list(RESOLUTION_CODES), dev_res), "platform_id": pa.array([platform] * n_dev),
    })
    for d in _deliveries(y0, day, (1, 3, 6, 9), with_last=True):
        keep = dev_installed <= (d - y0).days
        on = rng.random(n_dev) < health
        cat = catalog.append_column("status", pa.array(np.where(on, "ON", "OFF"))).filter(pa.array(keep))
        _commit(lake, "camera_catalog", cat.append_column("as_of", _dates(d, np.zeros(cat.num_rows, int))),
                f"camera_catalog:{d}", counts)
    timings["camera snapshots"] = time.perf_counter() - t

    # -- camera status events, in time-ordered chunks (as they arrive), 0.2% of them late
    t = time.perf_counter()
    p_dev = activity / activity.sum()
    total = int(rows * SHARES["camera_status"])
    _events(lake, rng, "camera_status", total, chunk_rows, t0, span_us, counts, lambda n, lo, hi: _camera_chunk(
        rng, n, lo, hi, t0, span_us, dev, dev_county, counties, p_dev, health))
    timings["camera_status"] = time.perf_counter() - t

    # -- traffic: intersection inventory with versions, signal controller events
    t = time.perf_counter()
    ti_county = np.repeat(np.arange(nc), INTERSECTIONS_PER_COUNTY)
    ti_serial = np.tile(np.arange(1, INTERSECTIONS_PER_COUNTY + 1), nc)
    n_ti = len(ti_county)
    ti_id = _strings(n_ti, b"TS", county_mat[ti_county], b"-", _digits(ti_serial, 4))
    major = rng.random(n_ti) < 0.6
    signalised = np.where(major, rng.random(n_ti) < 0.95, rng.random(n_ti) < 0.5)
    epolice = major & (rng.random(n_ti) < 0.72)
    mode = _choice(rng, n_ti, CONTROL_WEIGHTS)
    r1, r2 = rng.integers(0, len(ROADS), n_ti), rng.integers(0, len(ROADS), n_ti)
    ti_name = _join(_pick(list(ROADS), r1), pa.array(["与"] * n_ti), _pick(list(ROADS), r2),
                    pa.array(["交叉口"] * n_ti))

    def version(at_us, epol, mode_idx):
        return pa.table({
            "intersection_id": ti_id, "name": ti_name, "region": _pick(counties, ti_county),
            "major_road": _pick(list(ROADS), r1), "minor_road": _pick(list(ROADS), r2),
            "road_class": pa.array(np.where(major, "major", "branch")), "signalised": signalised,
            "epolice": epol, "control_mode": _pick(list(CONTROL_MODES), mode_idx),
            "online": rng.random(n_ti) < 0.97, "updated_at": _ts(t0, at_us),
        })
    v1 = version(-rng.integers(1, 365 * 86_400, n_ti) * US, epolice, mode)
    _commit(lake, "traffic_intersections", v1, "traffic_intersections:v1", counts)
    upd = rng.random(n_ti) < 0.3  # a third gain e-police or switch to adaptive timing during the year
    mode2 = np.where(upd & (rng.random(n_ti) < 0.5), CONTROL_MODES.index("adaptive"), mode)
    v2 = version(rng.integers(0, span_us, n_ti), epolice | (upd & major & (rng.random(n_ti) < 0.5)), mode2)
    _commit(lake, "traffic_intersections", v2.filter(pa.array(upd)), "traffic_intersections:v2", counts)
    sig = np.nonzero(signalised)[0]
    total = int(rows * SHARES["traffic_signal_events"])
    _events(lake, rng, "traffic_signal_events", total, chunk_rows, t0, span_us, counts,
            lambda n, lo, hi: _signal_chunk(rng, n, lo, hi, t0, span_us, ti_id, ti_county[sig], sig, counties))
    timings["traffic"] = time.perf_counter() - t

    # -- medical institutions (5 registry dates) and daily visits per institution and channel
    t = time.perf_counter()
    mi_county = np.repeat(np.arange(nc), INSTITUTIONS_PER_COUNTY)
    n_mi = len(mi_county)
    mi_kind = _choice(rng, n_mi, INSTITUTION_WEIGHTS)
    u = rng.random(n_mi)
    cum = np.cumsum(np.asarray(LEVEL_BY_KIND, float) / 100, axis=1)[mi_kind]
    mi_level = (u[:, None] > cum).sum(axis=1).clip(0, 3)
    uscc = _uscc(rng, mi_county, mi_kind, county_mat)
    mi = pa.table({
        "uscc": uscc, "org_id": _join(pa.array(["org-"] * n_mi), _pick(counties, mi_county),
                                     pa.array(np.arange(n_mi)).cast(pa.string()), sep=""),
        "name": _join(_pick(names, mi_county), _pick(list(ROADS), rng.integers(0, len(ROADS), n_mi)),
                      _pick(["人民医院", "中医院", "专科医院", "卫生院", "社区卫生服务中心", "卫生室", "诊所"], mi_kind),
                      pa.array(np.arange(n_mi) % INSTITUTIONS_PER_COUNTY).cast(pa.string())),
        "kind": _pick(list(INSTITUTION_KINDS), mi_kind), "level": _pick(list(LEVELS), mi_level),
        "region": _pick(counties, mi_county),
    })
    net_p = np.asarray(NETWORKED_BY_KIND)[mi_kind]
    net = rng.random(n_mi) < net_p * 0.85  # more get networked during the year
    for i, d in enumerate(_deliveries(y0, day, (1, 4, 7, 10), with_last=True)):
        net = net | (rng.random(n_mi) < net_p * 0.05)
        _commit(lake, "medical_institutions", mi.append_column("networked", pa.array(net)).append_column(
            "active", pa.array(rng.random(n_mi) < 0.97)).append_column("as_of", _dates(d, np.zeros(n_mi, int))),
            f"medical_institutions:{d}", counts)
    # institutions reporting visits: graded ones first, then clinics, as many as the row budget allows
    want = int(rows * SHARES["medical_visits"])
    n_rep = max(1, min(n_mi, want // (days * len(VISIT_CHANNELS))))
    rep = np.argsort(mi_level + rng.random(n_mi) * 0.5, kind="stable")[:n_rep]
    rep_mean = np.asarray(DAILY_VISITS_BY_LEVEL)[mi_level[rep]] * rng.lognormal(0, 0.4, n_rep)
    rep_share = np.asarray(CHANNEL_SHARE_BY_LEVEL)[mi_level[rep]]  # (n_rep, 5)
    per_day = n_rep * len(VISIT_CHANNELS)
    days_per_chunk = max(1, chunk_rows // per_day)
    for d0 in range(0, days, days_per_chunk):
        nd = min(days_per_chunk, days - d0)
        d_off = np.repeat(np.arange(d0, d0 + nd), per_day)
        inst = np.tile(np.repeat(rep, len(VISIT_CHANNELS)), nd)
        ch = np.tile(np.arange(len(VISIT_CHANNELS)), n_rep * nd)
        weekday = (np.datetime64(y0, "D") + d_off).astype("datetime64[D]").view("int64") % 7  # 0 = Thursday
        weekend = (weekday == 2) | (weekday == 3)
        lam = np.tile((rep_mean[:, None] * rep_share).ravel(), nd) * np.where(weekend, 0.6, 1.0)
        visits = pa.table({
            "date": _dates(y0, d_off), "uscc": uscc.take(pa.array(inst)), "region": _pick(counties, mi_county[inst]),
            "channel": _pick(list(VISIT_CHANNELS), ch), "visits": rng.poisson(lam).astype(np.int64),
        })
        _commit(lake, "medical_visits", visits, f"medical_visits:{d0}", counts)
    timings["medical"] = time.perf_counter() - t

    # -- social security records: whatever is left of --rows
    t = time.perf_counter()
    total = rows - sum(counts.get(k, 0) for k in ("camera_status", "traffic_signal_events", "medical_visits"))
    _events(lake, rng, "social_security_records", max(total, 0), chunk_rows, t0, span_us, counts,
            lambda n, lo, hi: _social_chunk(rng, n, lo, hi, t0, day, county_mat, counties))
    timings["social security"] = time.perf_counter() - t
    return {"counts": counts, "timings": timings, "day": day.isoformat(), "rows": rows, "seed": seed,
            "chunk_rows": chunk_rows}


_SEQ = {"n": 0}


def _events(lake, rng, name, total, chunk_rows, t0, span_us, counts, make) -> None:
    """``total`` rows of ``name`` in chunks covering consecutive time windows of the year."""
    import math

    n_chunks = max(1, math.ceil(total / chunk_rows))
    done = 0
    for k in range(n_chunks):
        n = total * (k + 1) // n_chunks - done
        lo, hi = span_us * k // n_chunks, span_us * (k + 1) // n_chunks
        if n:  # none left for this dataset (a small --rows): nothing to generate or commit
            _commit(lake, name, make(n, lo, hi), f"{name}:{k}", counts)
        done += n


def _seq(n: int):
    import numpy as np

    start = _SEQ["n"]
    _SEQ["n"] += n
    return np.arange(start, start + n)


def _times(rng, n, lo, hi, span_us):
    """Event offsets in [lo, hi), 0.2% of them arriving late (up to 2 days before the window)."""
    import numpy as np

    off = rng.integers(lo, hi, n)
    late = rng.random(n) < 0.002
    off[late] = np.maximum(0, off[late] - rng.integers(0, 2 * 86_400 * US, int(late.sum())))
    return off


def _camera_chunk(rng, n, lo, hi, t0, span_us, dev, dev_county, counties, p_dev, health):
    import numpy as np
    import pyarrow as pa

    idx = rng.choice(len(p_dev), size=n, p=p_dev)
    off = _times(rng, n, lo, hi, span_us)
    dev_ids = dev.take(pa.array(idx))
    return pa.table({
        "event_id": _join(dev_ids, pa.array(_seq(n)).cast(pa.string()), sep="-"),
        "device_id": dev_ids, "region": _pick(counties, dev_county[idx]),
        "status": pa.array(np.where(rng.random(n) < health[idx], "ON", "OFF")),
        "event_time": _ts(t0, off), "received_at": _ts(t0, off + rng.integers(50_000, 30 * US, n)),
    })


def _signal_chunk(rng, n, lo, hi, t0, span_us, ti_id, sig_county, sig, counties):
    import numpy as np
    import pyarrow as pa

    j = rng.integers(0, len(sig), n)
    kind = _choice(rng, n, SIGNAL_WEIGHTS)
    mode = _choice(rng, n, CONTROL_WEIGHTS)
    off = _times(rng, n, lo, hi, span_us)
    ids = ti_id.take(pa.array(sig[j]))
    return pa.table({
        "event_id": _join(ids, pa.array(_seq(n)).cast(pa.string()), sep="-"), "intersection_id": ids,
        "region": _pick(counties, sig_county[j]), "kind": _pick(list(SIGNAL_KINDS), kind),
        "control_mode": pa.array(np.where(kind == 0, np.asarray(CONTROL_MODES, object)[mode], None), pa.string()),
        "event_time": _ts(t0, off), "received_at": _ts(t0, off + rng.integers(20_000, 5 * US, n)),
    })


def _uscc(rng, county_idx, kind_idx, county_mat):
    """Valid GB 32100 codes: 12 (public institution) or 52/91 (private), county, org code, check."""
    import numpy as np

    n = len(county_idx)
    alpha = np.frombuffer(USCC_ALPHABET.encode(), np.uint8)
    public = kind_idx < 5
    head = np.where(public[:, None], _fixed(["12"]), np.where(rng.random(n)[:, None] < 0.5, _fixed(["52"]),
                                                             _fixed(["91"])))
    body = rng.integers(0, 10, (n, 8))
    body[public, 0] = 4  # public institutions' organisation codes start with 4
    org_check = 11 - (body * np.array([3, 7, 9, 10, 5, 8, 4, 2])).sum(axis=1) % 11
    org_ch = np.where(org_check == 10, ord("X"), np.where(org_check == 11, ord("0"), 48 + org_check % 10))
    first17 = np.hstack([head, county_mat[county_idx], (48 + body).astype(np.uint8), org_ch[:, None].astype(np.uint8)])
    values = np.searchsorted(alpha, first17)  # alphabet is sorted in ASCII order
    c = 31 - (values * np.asarray(USCC_WEIGHTS)).sum(axis=1) % 31
    check = alpha[np.where(c == 31, 0, c)]
    return _strings(n, first17, check[:, None].astype(np.uint8))


def _social_chunk(rng, n, lo, hi, t0, day, county_mat, counties):
    import numpy as np
    import pyarrow as pa

    t = _choice(rng, n, [x[2] for x in SS_TYPES])
    ch = np.empty(n, int)
    st = np.empty(n, int)
    for i, (_, _, _, cw, sw) in enumerate(SS_TYPES):
        m = t == i
        ch[m] = _choice(rng, int(m.sum()), cw)
        st[m] = _choice(rng, int(m.sum()), sw)
    remote = (t < 4) & (rng.random(n) < np.asarray(SS_REMOTE_SHARE)[ch])
    county = rng.integers(0, len(counties), n)
    # accepted during the day (07:00-21:00)
    off = rng.integers(lo, hi, n) // (86_400 * US) * 86_400 * US + rng.integers(7 * 3600, 21 * 3600, n) * US
    instant = (t == 3) | (t == 9)
    took = np.where(instant, rng.integers(1, 60, n), rng.exponential(2 * 86_400, n).astype(np.int64) + 600) * US
    done = pa.array(np.datetime64(t0, "us") + np.asarray(off + took, "timedelta64[us]"), pa.timestamp("us"),
                    mask=st == 0)  # still open: no completion time
    # citizen ID: county, birth date, sequence, ISO 7064 MOD 11-2 check
    age = rng.integers(18, 90, n)
    birth = (np.datetime64(f"{day.year}-01-01") - (age * 365.25).astype("timedelta64[D]")
             - rng.integers(0, 365, n).astype("timedelta64[D]"))
    ymd = birth.astype("datetime64[D]").astype(str)
    ymd_int = np.char.replace(ymd, "-", "").astype(np.int64)
    first17 = np.hstack([county_mat[county], _digits(ymd_int, 8), _digits(rng.integers(0, 1000, n), 3)])
    check = np.frombuffer(ID_CHECK.encode(), np.uint8)[((first17 - 48) * np.asarray(ID_WEIGHTS)).sum(axis=1) % 11]
    seq = _seq(n)
    return pa.table({
        "serial": _strings(n, b"SB", county_mat[county], _digits(seq, 12)),
        "business_type": _pick([x[0] for x in SS_TYPES], t), "business_name": _pick([x[1] for x in SS_TYPES], t),
        "channel": _pick(list(SS_CHANNELS), ch), "region": _pick(counties, county), "remote": remote,
        "status": _pick(list(SS_STATUSES), st), "accepted_at": _ts(t0, off), "completed_at": done,
        "id_number": _strings(n, first17, check[:, None]),
        "name": _join(_pick(list(SURNAMES), rng.integers(0, len(SURNAMES), n)),
                      _pick(list(GIVEN), rng.integers(0, len(GIVEN), n))),
        "phone": _strings(n, b"1", _fixed(list("35789"))[rng.integers(0, 5, n)], _digits(rng.integers(0, 10**9, n), 9)),
    })


# --------------------------------------------------------------------------- running

def _generate_child(home: str, rows: int, day: str, chunk_rows: int, seed: int) -> None:
    t = time.perf_counter()
    made = generate(home, rows, date.fromisoformat(day), chunk_rows, seed)
    made["seconds"] = time.perf_counter() - t
    made["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (Path(home) / META).write_text(json.dumps(made, indent=1))  # written last: marks a finished lake


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


OUTPUTS = ("indicator_values", "category_facts")
"""Tables compute() appends to on every run: each run adds snapshots and files to them, so
later runs plan and read more. A kept lake starts every bench run without them."""


def _reset_outputs(lake) -> None:
    for name in OUTPUTS:
        if lake.exists(name):
            location = _local(lake.table(name).location())
            lake.catalog.drop_table(f"{NAMESPACE}.{name}")
            if Path(location).resolve().is_relative_to(lake.cfg.home):  # only ever the bench's own files
                shutil.rmtree(location, ignore_errors=True)


def _load(when: str) -> None:
    """The machine has 2 cores and is shared: say when something else was running."""
    one, five, _ = os.getloadavg()
    warn = "  (the machine was busy: figures are pessimistic)" if one > 2.5 else ""
    print(f"load average {when}: {one:.2f} (1 min), {five:.2f} (5 min){warn}", flush=True)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _best(fn, repeat: int) -> tuple[float, object, float]:
    """Best wall time of ``repeat`` runs, the last result, and the CPU seconds (all
    threads) of the best run: less sensitive than wall time to other processes."""
    best, out, cpu = float("inf"), None, 0.0
    for _ in range(repeat):
        t, c = time.perf_counter(), _cpu()
        out = fn()
        dt = time.perf_counter() - t
        if dt < best:
            best, cpu = dt, _cpu() - c
    return best, out, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=lambda s: int(s.replace("_", "")), default=50_000_000,
                    help="event rows in total (default 50_000_000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is printed")
    ap.add_argument("--keep", metavar="DIR", help="hub home to generate into and reuse (skips generation "
                                                   "when DIR already holds a generated lake)")
    ap.add_argument("--day", type=date.fromisoformat, help="last day of the data and of the periods "
                                                           "(default: today CST, or the kept lake's day)")
    ap.add_argument("--chunk-rows", type=lambda s: int(s.replace("_", "")), default=5_000_000,
                    help="rows per commit of an event dataset (default 5_000_000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-breakdown", action="store_true", help="only the compute() totals")
    args = ap.parse_args()

    home = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="cityhub-bench-ind-"))
    cfg = settings(home)  # everything under the bench's own home
    meta_path = home / META
    try:
        if meta_path.exists():
            made = json.loads(meta_path.read_text())
            if made["rows"] != args.rows:
                sys.exit(f"{home} holds a lake of {made['rows']:,} rows (asked {args.rows:,}): use another --keep DIR")
            print(f"reusing the lake in {home}: {made['rows']:,} event rows up to {made['day']} "
                  f"(generated in {made['seconds']:.0f} s)")
        else:
            if home.exists() and any(home.iterdir()) and args.keep:
                sys.exit(f"{home} is not empty and holds no finished bench lake ({META}): remove it first")
            day = args.day or now_cst().date()
            print(f"generating {args.rows:,} event rows for {CITY}, {day.year}-01-01 .. {day} into {home} ...",
                  flush=True)
            # in a child process: its time and peak memory stay out of the figures below
            p = multiprocessing.get_context("spawn").Process(
                target=_generate_child, args=(str(home), args.rows, day.isoformat(), args.chunk_rows, args.seed))
            p.start()
            p.join()
            if p.exitcode != 0 or not meta_path.exists():
                sys.exit(f"generation failed (exit code {p.exitcode})")
            made = json.loads(meta_path.read_text())
        print(f"generation: {made['seconds']:.1f} s, peak RSS {made['peak_rss_mb']:,.0f} MB "
              f"({', '.join(f'{k} {v:.1f} s' for k, v in made['timings'].items())}; not timed below)")
        for name, n in made["counts"].items():
            print(f"  {name:26s} {n:>12,} rows")
        lake = Lake(cfg)
        _reset_outputs(lake)
        lake_dir = home / "lake"
        print(f"  lake on disk: {_du(lake_dir) / 2**30:.2f} GiB, "
              f"{sum(1 for _ in lake_dir.rglob('*.parquet')):,} Parquet files")
        _time(args, lake, date.fromisoformat(made["day"]) if args.day is None else args.day)
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


def _time(args, lake, day: date) -> None:
    decl = lake.decl
    c = decl.city(lake.cfg.city)
    codes = list(decl.indicators)
    today = now_cst().date()
    kinds_all = PERIOD_KINDS if day == today else tuple(k for k in PERIOD_KINDS if k != "now")
    note = "" if day == today else f" ('now' skipped by compute: {day} is not today, {today})"
    print(f"\ncomputing {len(codes)} indicators for {CITY} and {len(c.counties)} counties, day {day}, "
          f"best of {args.repeat}{note}", flush=True)
    _load("before timing")

    t_ytd, out, cpu = _best(lambda: compute(lake, day, kinds=("year",)), args.repeat)
    print(f"compute(kinds=('year',)): {t_ytd:6.2f} s wall, {cpu:6.2f} s CPU  ({len(out)} values)", flush=True)
    t_all, out_all, cpu = _best(lambda: compute(lake, day, kinds=kinds_all), args.repeat)
    print(f"compute(kinds={kinds_all}): {t_all:6.2f} s wall, {cpu:6.2f} s CPU  ({len(out_all)} values)",
          flush=True)

    city_year = {r["code"]: r for r in out if r["region"] == CITY}
    if not args.skip_breakdown:
        per: dict[tuple[str, str], float] = {}
        for code in codes:
            ind = decl.indicator(code)
            for kind in PERIOD_KINDS:
                per[code, kind] = _best(lambda: evaluate(lake, ind, c, period(kind, day)), args.repeat)[0]
        print("\nper indicator, evaluate() (compute without the indicator_values commit), s:")
        head = "".join(f"{k:>8s}" for k in PERIOD_KINDS)
        print(f"  {'code':4s} {'name':44s}{head}{'all':>8s}   city value (year)")
        for code in codes:
            ind = decl.indicator(code)
            row = "".join(f"{per[code, k]:8.2f}" for k in PERIOD_KINDS)
            v = city_year[code]["value"]
            print(f"  {code:4s} {ind.name_en[:44]:44s}{row}{sum(per[code, k] for k in kinds_all):8.2f}   "
                  f"{'-' if v is None else f'{v:.4f}'}")
        sums = {k: sum(per[code, k] for code in codes) for k in PERIOD_KINDS}
        print(f"  {'':4s} {'sum of evaluate()':44s}" + "".join(f"{sums[k]:8.2f}" for k in PERIOD_KINDS)
              + f"{sum(sums[k] for k in kinds_all):8.2f}")
        # compute() records the sharing facts (#27, #28, #30) once per period before evaluating
        if any("category_facts" in decl.indicator(code).inputs for code in codes):
            facts = {k: _best(lambda: sharing.record(lake, CITY, period(k, day).label, period(k, day).start,
                                                     period(k, day).end), args.repeat)[0] for k in PERIOD_KINDS}
            print(f"  {'':4s} {'sharing.record() (category_facts)':44s}"
                  + "".join(f"{facts[k]:8.2f}" for k in PERIOD_KINDS) + f"{sum(facts[k] for k in kinds_all):8.2f}")
            sums = {k: sums[k] + facts[k] for k in PERIOD_KINDS}
        print(f"  compute() minus these parts (the indicator_values commit; each cell is a separate best-of, "
              f"so this is within noise when small or negative): year {t_ytd - sums['year']:+.2f} s, "
              f"all {t_all - sum(sums[k] for k in kinds_all):+.2f} s")
    _load("after timing")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the computing process: {peak:,.0f} MB")
    for label, t in (("year to date", t_ytd), (f"all periods {kinds_all}", t_all)):
        print(f"{label:52s} {t:6.2f} s  vs target {TARGET_S:.0f} s: {'OK' if t <= TARGET_S else 'OVER'}"
              f" ({t / TARGET_S:.1f}x)")


if __name__ == "__main__":
    main()
