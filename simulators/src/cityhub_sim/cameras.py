"""Simulator of one city's video-camera networking feeds, faults included.

No real public-security feed can be reached, so this module produces the three
sources the connectors are written against, in their real formats:

* the key public areas list (CSV) and the camera registry, 一机一档 (CSV);
* the video sharing platform's GB/T 28181 ``Catalog`` responses (paged XML,
  GB18030/GB2312/UTF-8), also served over HTTP by :func:`serve_catalog`;
* camera status events (JSON lines, also published to Kafka).

Key areas and registered cameras carry the township-level unit they lie in
(``township_code``, a real unit of their county): mostly streets, some towns, a
few townships and town-like units; a camera watching a key area lies in the
area's unit, and ~3% of rows have no code (the source did not record it).

Everything is deterministic by ``(city, seed)`` for the world's structure (the
cameras do not change from one day to the next) and by ``(city, seed, day)``
for what happens on the day (status, events, injected faults). Every injected
fault is listed in :attr:`CameraWorld.faults` so tests can check that the
connectors quarantine or land exactly what they should.
"""
from __future__ import annotations

import csv
import gc
import io
import json
import random
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from cityhub.declarations.regions import City
from cityhub_sim.common import city as get_city
from cityhub_sim.common import Townships, kind_table, publish, recorded, serve_http, unknown_county_code, write_atomic

# --------------------------------------------------------------------------- config


@dataclass
class SimConfig:
    city: str = "371400"
    declarations: Path | None = None
    """Where the city is declared (default: the declarations installed with the hub)."""
    seed: int = 1
    day: date = date(2026, 11, 22)
    cameras_per_county: int = 400
    key_areas_per_county: int = 40
    fault_rate: float = 0.02
    page_size: int = 200
    encoding: str = "GB18030"
    events_per_camera: float = 3.0


@dataclass
class CameraWorld:
    config: SimConfig
    key_areas: list[dict] = field(default_factory=list)
    registry: list[dict] = field(default_factory=list)
    catalog_items: list[dict] = field(default_factory=list)
    catalog_pages: list[bytes] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    faults: list[dict] = field(default_factory=list)


KEY_AREA_FIELDS = ["area_id", "name", "kind", "region", "township_code", "longitude", "latitude"]
REGISTRY_FIELDS = [
    "device_id", "name", "region", "township_code", "key_area_id", "resolution",
    "longitude", "latitude", "owner", "install_date", "address",
]
ITEM_FAULTS = (
    "duplicate_item", "device_id_length", "device_id_prefix_mismatch", "unknown_civil_code", "missing_status",
)
PAGE_FAULTS = ("truncated_xml", "wrong_encoding_declaration")
EVENT_FAULTS = ("duplicate_event", "malformed_event", "out_of_order", "late_event")
EXPECT = {
    **{k: "quarantine" for k in ITEM_FAULTS + PAGE_FAULTS},
    "duplicate_event": "quarantine",
    "malformed_event": "quarantine",
    "out_of_order": "land",
    "late_event": "land",
}

# ------------------------------------------------------------------ vocabulary

KINDS = ("station", "square", "hospital", "school", "commercial", "scenic", "government")
KIND_WEIGHTS = (10, 12, 15, 25, 18, 8, 12)
PLACE_WORDS = {
    "station": ("火车站", "汽车站", "汽车总站", "高铁站", "公交枢纽站", "客运中心"),
    "square": ("人民广场", "文化广场", "市民广场", "中心广场", "体育广场", "时代广场"),
    "hospital": ("人民医院", "中医院", "妇幼保健院", "第二人民医院", "中心医院", "骨科医院"),
    "school": ("第一中学", "第二中学", "第三中学", "实验中学", "实验小学", "第一小学", "职业中专"),
    "commercial": ("万达广场", "百货大楼", "银座商城", "商业步行街", "农贸市场", "购物中心"),
    "scenic": ("湿地公园", "森林公园", "古城景区", "人民公园", "植物园"),
    "government": ("人民政府", "政务服务中心", "公安局", "人民法院", "人民检察院"),
}
# GB/T 28181-2016 PositionType: 2 party/government, 3 station, 4 square, 6 commerce,
# 8 school surroundings, 9 complex public-order area, 10 traffic artery.
POSITION_TYPE = {"station": "3", "square": "4", "hospital": "9", "school": "8",
                 "commercial": "6", "scenic": "9", "government": "2"}
ROADS = ("新华路", "人民路", "解放路", "建设路", "文化路", "胜利路", "和平路", "中山路", "东风路",
         "长河大道", "湖滨路", "振华路", "天衢路", "迎宾路", "光明街", "跃进路", "青年路", "育才路")
SPOTS = ("东门", "西门", "南门", "北门", "正门", "出入口", "大厅", "停车场", "周界", "广场")
HEADINGS = ("东向西", "西向东", "南向北", "北向南")
# (manufacturer, models) as the platform reports them.
VENDORS = (
    ("Hikvision", ("DS-2CD3T46WD-I3", "DS-2DC4423IW-D", "DS-2CD2345FWD-I")),
    ("Dahua", ("DH-IPC-HFW4433M-I2", "DH-SD49425XB-HNR", "DH-IPC-HDBW2433R")),
    ("Uniview", ("IPC2124LB-SF40", "IPC6222ER-X20")),
    ("Tiandy", ("TC-NC9401S3E", "TC-C32GN")),
)
VENDOR_WEIGHTS = (45, 35, 12, 8)
# GB/T 28181 industry codes: 00-03 public order, 04/05 traffic, 13 education.
INDUSTRIES = ("00", "01", "02", "03", "04", "05", "13")
INDUSTRY_WEIGHTS = (55, 15, 5, 5, 10, 5, 5)
RESOLUTIONS = ("1920x1080", "1280x720", "704x576")
# Draw weights for cameras outside SD-only areas, so the overall mix is ~70/15/15.
RESOLUTION_WEIGHTS = (74, 16, 10)
# GB/T 28181-2016 Info/Resolution codes a camera supports: 6 1080P, 5 720P, 4 D1.
RESOLUTION_CODES = {"1920x1080": "6/5/4", "1280x720": "5/4", "704x576": "4"}

# Where key areas lie, by kind: weights of street (街道), town (镇), township (乡) and
# town-like unit (开发区 ...). Mostly the streets of districts and county seats; scenic
# spots and schools more often out in the towns. ~76% streets over the kind mix.
AREA_UNITS = {
    "station": kind_table(70, 25, 2, 3), "square": kind_table(88, 10, 1, 1),
    "hospital": kind_table(85, 13, 1, 1), "school": kind_table(65, 30, 4, 1),
    "commercial": kind_table(85, 11, 1, 3), "scenic": kind_table(40, 45, 8, 7),
    "government": kind_table(90, 9, 1, 0),
}
# Cameras watching no key area (roads, junctions, villages' 雪亮工程 points); a camera
# watching an area lies in the area's unit.
CAMERA_UNITS = kind_table(72, 24, 2, 2)

NETWORKED_SHARE = 0.90     # registry cameras that appear in the catalogue
UNREGISTERED_SHARE = 0.02  # catalogue devices missing from the registry
WATCH_SHARE = 0.60         # cameras that watch a key area
ONLINE_SHARE = 0.92
DAY_SECONDS = 86_400


# ------------------------------------------------------------------ helpers


def platform_id_for(city_code: str) -> str:
    """The sharing platform's own 20-digit GB/T 28181 code (type 200 = platform)."""
    return f"{city_code}00" + "00" + "200" + "0" + "000001"


def _centre(code: str, lon0: float, lat0: float, span_lon: float, span_lat: float) -> tuple[float, float]:
    """A stable pseudo-location for a region code (crc32, so it never depends on the seed)."""
    h = zlib.crc32(code.encode())
    return (lon0 + ((h & 0xFFFF) / 0xFFFF - 0.5) * span_lon,
            lat0 + (((h >> 16) & 0xFFFF) / 0xFFFF - 0.5) * span_lat)


def _county_centres(c: City) -> dict[str, tuple[float, float]]:
    # Shandong lies within roughly 114.8-122.7 E, 34.4-38.4 N.
    lon, lat = _centre(c.code, 117.5, 36.4, 3.5, 2.4)
    return {k: _centre(k, lon, lat, 0.9, 0.7) for k in c.counties}


def _table(values: tuple, weights: tuple[int, ...]) -> tuple:
    """Expand integer weights into a lookup table: one ``random()`` per weighted pick (fast)."""
    return tuple(v for v, w in zip(values, weights) for _ in range(w))


INDUSTRY_TABLE = _table(INDUSTRIES, INDUSTRY_WEIGHTS)
RESOLUTION_TABLE = _table(RESOLUTIONS, RESOLUTION_WEIGHTS)
VENDOR_TABLE = _table(VENDORS, VENDOR_WEIGHTS)


def _coord(x: float) -> str:
    return f"{x:.6f}"


def _police_owner(c: City, county: str) -> str:
    name = c.counties[county]
    if name.endswith("区"):
        return f"{c.name}公安局{name[:-1]}分局"
    return f"{name}公安局"


def _owner(c: City, county: str, industry: str) -> str:
    if industry in ("04", "05"):
        return f"{c.name}公安局交通警察支队"
    if industry == "13":
        return f"{c.counties[county]}教育和体育局"
    return _police_owner(c, county)




# ------------------------------------------------------------------ structure (by seed)


def _key_areas(rng: random.Random, c: City, cfg: SimConfig, centres: dict[str, tuple[float, float]],
               trng: random.Random) -> tuple[list[dict], dict[str, str], dict[str, str | None]]:
    """Key areas, plus each one's coverage profile: normal, sd (SD cameras only) or none,
    and the township-level unit it really lies in (drawn with ``trng``; the list omits
    it for a few areas).

    The profiles make the HD-coverage indicator non-trivial: some areas end up with
    no HD camera, a few with no camera at all.
    """
    rows: list[dict] = []
    profile: dict[str, str] = {}
    where: dict[str, str | None] = {}
    t = trng.random
    for county, cname in c.counties.items():
        lon0, lat0 = centres[county]
        units = Townships(county)
        used: set[str] = set()
        for i in range(1, cfg.key_areas_per_county + 1):
            kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
            word = rng.choice(PLACE_WORDS[kind])
            name = f"{cname}{word}"
            for _ in range(20):
                if name not in used:
                    break
                name = f"{cname}{rng.choice(ROADS)}{word}"
            else:
                name = f"{cname}{word}{i}"
            used.add(name)
            area_id = f"KA{county}-{i:04d}"
            where[area_id] = units.draw(t, AREA_UNITS[kind])
            rows.append({
                "area_id": area_id, "name": name, "kind": kind, "region": county,
                "township_code": recorded(t, where[area_id]) or "",
                "longitude": _coord(lon0 + rng.uniform(-0.12, 0.12)),
                "latitude": _coord(lat0 + rng.uniform(-0.10, 0.10)),
            })
            r = rng.random()
            profile[area_id] = "none" if r < 0.04 else "sd" if r < 0.12 else "normal"
    # Guarantee both realistic gaps exist whenever there are enough areas.
    if len(rows) >= 3:
        for needed in ("none", "sd"):
            if needed not in profile.values():
                normal = [a for a, p in profile.items() if p == "normal"]
                profile[rng.choice(normal)] = needed
    return rows, profile, where


def _cameras(rng: random.Random, c: City, cfg: SimConfig, centres: dict[str, tuple[float, float]],
             key_areas: list[dict], profile: dict[str, str], where: dict[str, str | None],
             trng: random.Random) -> tuple[list[dict], list[dict]]:
    """The registry rows and the catalogue's base items (before status and faults).

    Township codes are drawn with ``trng`` only, so they change nothing else."""
    platform_id = platform_id_for(c.code)
    # Coordinates parsed once per area rather than once per camera.
    areas_by_county: dict[str, list[dict]] = {}
    for a in key_areas:
        areas_by_county.setdefault(a["region"], []).append(
            dict(a, _lon=float(a["longitude"]), _lat=float(a["latitude"])))
    first_install = date(2012, 1, 1).toordinal()
    install_span = date(2026, 6, 30).toordinal() - first_install
    latest_install = cfg.day.toordinal() - 1
    registry: list[dict] = []
    items: list[dict] = []
    serials = dict.fromkeys(c.counties, 0)
    owners: dict[tuple[str, str], str] = {}
    r = rng.random  # hot path: index with random() rather than choice()/randint()

    def pick(seq):
        return seq[int(r() * len(seq))]

    t = trng.random
    units = {county: Townships(county) for county in c.counties}

    def new_device(county: str, area: dict | None, resolution: str,
                   township: str | None = None) -> tuple[dict, dict]:
        serials[county] += 1
        industry = pick(INDUSTRY_TABLE)
        dtype = "132" if r() < 0.7 else "131"
        device_id = f"{county}00{industry}{dtype}0{serials[county]:06d}"
        road = pick(ROADS)
        address = f"{c.name}{c.counties[county]}{road}{1 + int(r() * 399)}号"
        if area is not None:
            lon = area["_lon"] + (r() - 0.5) * 0.004
            lat = area["_lat"] + (r() - 0.5) * 0.004
            name = f"{area['name']}{pick(SPOTS)}{1 + int(r() * 4):02d}"
            position, use = POSITION_TYPE[area["kind"]], "3"
        else:
            lon0, lat0 = centres[county]
            lon, lat = lon0 + (r() - 0.5) * 0.30, lat0 + (r() - 0.5) * 0.24
            other = pick(ROADS)
            name = (f"{road}与{other}交叉口{pick(HEADINGS)}" if other != road
                    else f"{road}{1 + int(r() * 399)}号门前")
            position, use = ("10", "2") if industry in ("04", "05") else ("9", "1")
        owner = owners.get((county, industry))
        if owner is None:
            owner = owners[(county, industry)] = _owner(c, county, industry)
        installed = date.fromordinal(min(first_install + int(r() * install_span), latest_install))
        manufacturer, models = pick(VENDOR_TABLE)
        x = r()
        ptz = "1" if x < 0.3 else "2" if x < 0.45 else "3"
        lon_s, lat_s = f"{lon:.6f}", f"{lat:.6f}"
        row = {
            "device_id": device_id, "name": name, "region": county, "township_code": township or "",
            "key_area_id": area["area_id"] if area is not None else "", "resolution": resolution,
            "longitude": lon_s, "latitude": lat_s, "owner": owner,
            "install_date": installed.isoformat(), "address": address,
        }
        item = {
            "DeviceID": device_id, "Name": name, "Manufacturer": manufacturer,
            "Model": pick(models), "Owner": owner, "CivilCode": county, "Address": address,
            "Parental": "0", "ParentID": platform_id, "SafetyWay": "0", "RegisterWay": "1",
            "Secrecy": "0", "Status": "ON", "Longitude": lon_s, "Latitude": lat_s,
            "Info": {"PTZType": ptz, "PositionType": position, "UseType": use,
                     "Resolution": RESOLUTION_CODES[resolution]},
        }
        return row, item

    for county in c.counties:
        areas = areas_by_county.get(county, [])
        watchable = [a for a in areas if profile[a["area_id"]] != "none"]
        n = cfg.cameras_per_county
        n_watch = round(WATCH_SHARE * n) if watchable else 0
        # Every watchable area gets one camera first (when there are enough), then at random.
        targets = (rng.sample(watchable, min(n_watch, len(watchable)))
                   + [pick(watchable) for _ in range(n_watch - len(watchable))]) if watchable else []
        rng.shuffle(targets)
        targets += [None] * (n - len(targets))
        for area in targets:
            if area is not None and profile[area["area_id"]] == "sd":
                resolution = "704x576"
            else:
                resolution = pick(RESOLUTION_TABLE)
            township = (recorded(t, where[area["area_id"]]) if area is not None
                        else units[county].pick(t, CAMERA_UNITS))
            row, item = new_device(county, area, resolution, township)
            registry.append(row)
            if r() < NETWORKED_SHARE:
                items.append(item)
    # Devices the platform knows but the registry does not (never filed).
    counties = list(c.counties)
    n_extra = round(len(items) * UNREGISTERED_SHARE / (1 - UNREGISTERED_SHARE))
    for _ in range(n_extra):
        _, item = new_device(pick(counties), None, pick(RESOLUTION_TABLE))
        items.append(item)
    items.sort(key=lambda it: it["DeviceID"])
    return registry, items


# ------------------------------------------------------------------ catalogue faults (by day)


def _copy_item(it: dict) -> dict:
    out = dict(it)
    out["Info"] = dict(it["Info"])
    return out


def _inject_catalog_faults(rng: random.Random, items: list[dict], cfg: SimConfig,
                           c: City) -> tuple[dict[int, str], list[dict]]:
    """Choose the faulty pages, then put item faults on items of the other pages.

    Duplicates *replace* a later item rather than being inserted, so the page
    layout is fixed before any item fault is chosen: the page faults and item
    faults never overlap, and every item fault stays visible to a connector.
    Returns ``{page number: page fault}`` and the item-fault manifest.
    """
    rate, ps = cfg.fault_rate, max(1, cfg.page_size)
    n = len(items)
    if rate <= 0 or n == 0:
        return {}, []
    n_pages = -(-n // ps)
    bad_pages: dict[int, str] = {}
    if n_pages >= 3:
        bad_pages = dict(zip(rng.sample(range(2, n_pages + 1), 2), PAGE_FAULTS))
    eligible = [i for i in range(n) if i // ps + 1 not in bad_pages]
    taken: set[int] = set()
    ids = {it["DeviceID"] for it in items}
    counties = list(c.counties)
    unknown = unknown_county_code(c)
    manifest: list[dict] = []

    def unique(candidate: str, prefix: str, rest: str) -> str:
        while candidate in ids:  # re-draw the serial until no other device has this code
            candidate = prefix + rest[:-6] + f"{rng.randrange(10**6):06d}"
        return candidate

    def inject(pos: int, kind: str) -> bool:
        i = eligible[pos]
        if i in taken:
            return False
        it = items[i]
        did = it["DeviceID"]
        if kind == "duplicate_item":
            # Re-delivered up to two pages later, possibly on another page.
            later = [eligible[p] for p in range(pos + 1, min(len(eligible), pos + 1 + 2 * ps))]
            later = [j for j in later if j not in taken]
            if not later:
                return False
            j = rng.choice(later)
            items[j] = _copy_item(it)
            taken.add(j)
        elif kind == "device_id_length":
            if rng.random() < 0.5:
                k = rng.randrange(14, 20)
                new = did[:k] + did[k + 1:]
            else:
                k = rng.randrange(14, 21)
                new = did[:k] + str(rng.randrange(10)) + did[k:]
            if new in ids:
                return False
            it["DeviceID"] = new
        elif kind == "device_id_prefix_mismatch":
            others = [k for k in counties if k != it["CivilCode"]]
            if not others:
                return False
            prefix = rng.choice(others)
            it["DeviceID"] = unique(prefix + did[6:], prefix, did[6:])
        elif kind == "unknown_civil_code":
            it["DeviceID"] = unique(unknown + did[6:], unknown, did[6:])
            it["CivilCode"] = unknown
        elif kind == "missing_status":
            it.pop("Status", None)
        ids.add(it["DeviceID"])
        taken.add(i)
        manifest.append({"source": "catalog", "kind": kind, "key": it["DeviceID"], "expect": EXPECT[kind]})
        return True

    # One of each class first (tests rely on every class occurring), then each item
    # draws each class with probability ``rate``.
    for kind in ITEM_FAULTS:
        for _ in range(200 if eligible else 0):
            if inject(rng.randrange(len(eligible)), kind):
                break
    n_kinds = len(ITEM_FAULTS)
    p_any = min(1.0, rate * n_kinds)
    for pos in range(len(eligible)):
        u = rng.random()
        if u < p_any:
            inject(pos, ITEM_FAULTS[int(u / p_any * n_kinds)])
    for page, kind in sorted(bad_pages.items()):
        manifest.append({"source": "catalog", "kind": kind, "key": page, "expect": EXPECT[kind]})
    return bad_pages, manifest


# ------------------------------------------------------------------ rendering


def _catalog_sn(cfg: SimConfig) -> int:
    """The query's SN; every page answering one Catalog query carries the same SN."""
    return (cfg.seed * 7919 + cfg.day.toordinal()) % 100_000 + 1


def _item_xml(it: dict, e) -> str:
    """One ``<Item>``; ``e`` is ``escape`` or ``str`` (identity, for values known to be clean)."""
    info = it["Info"]
    status = it.get("Status")
    return (
        f"<Item>\n<DeviceID>{e(it['DeviceID'])}</DeviceID>\n<Name>{e(it['Name'])}</Name>\n"
        f"<Manufacturer>{e(it['Manufacturer'])}</Manufacturer>\n<Model>{e(it['Model'])}</Model>\n"
        f"<Owner>{e(it['Owner'])}</Owner>\n<CivilCode>{e(it['CivilCode'])}</CivilCode>\n"
        f"<Address>{e(it['Address'])}</Address>\n<Parental>{e(it['Parental'])}</Parental>\n"
        f"<ParentID>{e(it['ParentID'])}</ParentID>\n<SafetyWay>{e(it['SafetyWay'])}</SafetyWay>\n"
        f"<RegisterWay>{e(it['RegisterWay'])}</RegisterWay>\n<Secrecy>{e(it['Secrecy'])}</Secrecy>\n"
        + (f"<Status>{e(status)}</Status>\n" if status is not None else "")
        + f"<Longitude>{e(it['Longitude'])}</Longitude>\n<Latitude>{e(it['Latitude'])}</Latitude>\n"
        f"<Info>\n<PTZType>{e(info['PTZType'])}</PTZType>\n"
        f"<PositionType>{e(info['PositionType'])}</PositionType>\n"
        f"<UseType>{e(info['UseType'])}</UseType>\n"
        f"<Resolution>{e(info['Resolution'])}</Resolution>\n</Info>\n</Item>\n"
    )


# Markup characters in an Item whose values need no escaping: 21 elements, 2 tags each.
_ITEM_TAGS = 2 * 21


def _page_text(chunk: list[dict], total: int, sn: int, platform_id: str, declared: str) -> str:
    parts = [
        f'<?xml version="1.0" encoding="{declared}"?>\n<Response>\n<CmdType>Catalog</CmdType>\n'
        f"<SN>{sn}</SN>\n<DeviceID>{escape(platform_id)}</DeviceID>\n<SumNum>{total}</SumNum>\n"
        f'<DeviceList Num="{len(chunk)}">\n'
    ]
    append = parts.append
    for it in chunk:
        # Fast path: render raw, and escape only if a value brought markup characters
        # (calling escape() on every value would triple the rendering time).
        xml = _item_xml(it, str)
        tags = _ITEM_TAGS - (it.get("Status") is None) * 2
        if "&" in xml or xml.count("<") != tags or xml.count(">") != tags:
            xml = _item_xml(it, escape)
        append(xml)
    append("</DeviceList>\n</Response>\n")
    return "".join(parts)


def _encode(text: str, encoding: str) -> bytes:
    # Characters outside GB2312 become character references: still the same XML.
    return text.encode(encoding, errors="xmlcharrefreplace")


def render_catalog_pages(items: list[dict], cfg: SimConfig, platform_id: str) -> list[bytes]:
    """Clean Catalog response pages (``cfg.page_size`` items each) encoded in ``cfg.encoding``.

    Built with string templates rather than a DOM: 100k items render in well
    under a second. Page-level faults are applied by :func:`generate`, not here.
    """
    ps = max(1, cfg.page_size)
    sn = _catalog_sn(cfg)
    total = len(items)
    starts = range(0, total, ps) if total else [0]
    return [_encode(_page_text(items[s:s + ps], total, sn, platform_id, cfg.encoding), cfg.encoding)
            for s in starts]


def _apply_page_faults(rng: random.Random, pages: list[bytes], items: list[dict], cfg: SimConfig,
                       platform_id: str, bad_pages: dict[int, str]) -> None:
    ps = max(1, cfg.page_size)
    for page, kind in bad_pages.items():
        if kind == "truncated_xml":
            data = pages[page - 1]
            pages[page - 1] = data[: rng.randint(len(data) // 4, 3 * len(data) // 4)]
        elif kind == "wrong_encoding_declaration":
            # GB18030 bytes behind a UTF-8 declaration: the Chinese names cannot decode.
            chunk = items[(page - 1) * ps: page * ps]
            text = _page_text(chunk, len(items), _catalog_sn(cfg), platform_id, "UTF-8")
            pages[page - 1] = _encode(text, "gb18030")


# ------------------------------------------------------------------ events (by day)


def event_line(event: dict) -> str:
    """The JSON line delivered for an event (malformed events carry their raw text)."""
    raw = event.get("_raw")
    return raw if raw is not None else json.dumps(event, ensure_ascii=False)


def _events(rng: random.Random, cams: list[tuple[str, str, str]], cfg: SimConfig) -> tuple[list[dict], list[dict]]:
    """Status events of the networked cameras during ``cfg.day``, then the event faults.

    Each camera's last event agrees with its catalogue Status.
    """
    prefix = f"{cfg.day.isoformat()}T"
    stamp = [f"{prefix}{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+08:00" for s in range(DAY_SECONDS)]
    epc2 = 2.0 * max(0.0, cfg.events_per_camera)
    random_, randrange = rng.random, rng.randrange
    day_s = float(DAY_SECONDS)
    recs: list[tuple[int, int, dict]] = []
    other = {"ON": "OFF", "OFF": "ON"}
    for did, civil, final in cams:
        k = int(epc2 * random_() + random_())  # mean exactly events_per_camera
        if not k:
            continue
        secs = sorted([int(random_() * day_s) for _ in range(k)])
        for j, s in enumerate(secs, 1):
            status = final if (k - j) % 2 == 0 else other[final]
            recs.append((s, len(recs), {"event_id": f"{did}-{j}", "device_id": did, "civil_code": civil,
                                        "status": status, "event_time": stamp[s]}))
    recs.sort(key=lambda r: (r[0], r[1]))
    secs = [r[0] for r in recs]
    events = [r[2] for r in recs]
    n = len(events)
    rate = cfg.fault_rate
    if rate <= 0 or n < 4:
        return events, []

    # Late events are at least three hours older than the stream's tail they join.
    tail_start = max(1, int(n * 0.98))
    late_limit = secs[min(tail_start, n - 1)] - 3 * 3600
    kinds: list[str | None] = [None] * n

    def assign(i: int, kind: str) -> bool:
        if kinds[i] is not None:
            return False
        if kind == "out_of_order":
            if i + 1 >= n or kinds[i + 1] is not None or secs[i] == secs[i + 1]:
                return False
            kinds[i + 1] = "_pair"
        elif kind == "late_event" and secs[i] > late_limit:
            return False
        kinds[i] = kind
        return True

    # One of each class first, then each event draws each class with probability ``rate``.
    for kind in EVENT_FAULTS:
        for _ in range(500):
            if assign(randrange(n), kind):
                break
    n_kinds = len(EVENT_FAULTS)
    p_any = min(1.0, rate * n_kinds)
    for i in range(n):
        if kinds[i] is None:
            u = random_()
            if u < p_any:
                assign(i, EVENT_FAULTS[int(u / p_any * n_kinds)])

    manifest: list[dict] = []
    malformed_no = 0
    stream: list[dict] = []
    late: list[dict] = []
    dups: list[tuple[int, dict]] = []
    pair_first: set[int] = set()  # stream positions of swapped pairs' first event
    i = 0
    while i < n:
        ev, kind = events[i], kinds[i]
        if kind == "out_of_order":
            pair_first.add(len(stream))
            stream += [events[i + 1], ev]  # the older event arrives second
            manifest.append({"source": "events", "kind": kind, "key": ev["event_id"], "expect": "land"})
            i += 2
            continue
        if kind == "malformed_event":
            line = json.dumps(ev, ensure_ascii=False)
            if random_() < 0.5:
                malformed_no += 1
                key = f"malformed-{malformed_no}"
                raw = line[: rng.randint(10, len(line) - 2)]  # a cut-off line: not JSON
            else:
                key = ev["event_id"]
                broken = dict(ev)
                del broken[rng.choice(("device_id", "status", "event_time"))]
                raw = json.dumps(broken, ensure_ascii=False)
            stream.append({"_raw": raw})
            manifest.append({"source": "events", "kind": kind, "key": key, "expect": "quarantine"})
        elif kind == "late_event":
            late.append(ev)
            manifest.append({"source": "events", "kind": kind, "key": ev["event_id"], "expect": "land"})
        else:
            stream.append(ev)
            if kind == "duplicate_event":
                dups.append((len(stream) - 1, ev))
                manifest.append({"source": "events", "kind": kind, "key": ev["event_id"], "expect": "quarantine"})
        i += 1

    # Re-deliveries follow within a few hundred messages; late events join the tail.
    # Nothing is inserted inside a swapped pair, which must stay adjacent.
    inserts: dict[int, list[dict]] = {}
    m = len(stream)

    def insert_after(pos: int, ev: dict) -> None:
        inserts.setdefault(pos + 1 if pos in pair_first else pos, []).append(ev)

    for pos, ev in dups:
        insert_after(min(m - 1, pos + rng.randint(1, 300)), dict(ev))
    tail = max(0, int(m * 0.98) - 1)
    for ev in late:
        insert_after(rng.randint(tail, m - 1), ev)
    out: list[dict] = []
    for pos, ev in enumerate(stream):
        out.append(ev)
        extra = inserts.get(pos)
        if extra:
            out += extra
    return out, manifest


# ------------------------------------------------------------------ the world


@contextmanager
def _gc_paused():
    """Pause the cyclic GC while building millions of acyclic dicts and strings.

    Its generation scans otherwise cost up to half the run time at 100k devices.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def generate(cfg: SimConfig) -> CameraWorld:
    """Build the whole camera world for ``cfg`` (structure by seed, the day's data by day).

    With ``fault_rate > 0`` every fault class occurs at least once; the two page
    faults need at least three catalogue pages (the first page is never faulty).
    """
    with _gc_paused():
        return _generate(cfg)


def _generate(cfg: SimConfig) -> CameraWorld:
    c = get_city(cfg.city, cfg.declarations)
    srng = random.Random(f"cameras/{c.code}/{cfg.seed}")
    drng = random.Random(f"cameras/{c.code}/{cfg.seed}/{cfg.day.isoformat()}")
    centres = _county_centres(c)
    trng = random.Random(f"cameras/{c.code}/{cfg.seed}/townships")
    key_areas, profile, where = _key_areas(srng, c, cfg, centres, trng)
    registry, items = _cameras(srng, c, cfg, centres, key_areas, profile, where, trng)
    platform_id = platform_id_for(c.code)

    random_ = drng.random
    for it in items:
        it["Status"] = "ON" if random_() < ONLINE_SHARE else "OFF"
    # The devices as they really are, before the feed garbles some of them.
    truth = [(it["DeviceID"], it["CivilCode"], it["Status"]) for it in items]
    originals = [id(it) for it in items]

    bad_pages, faults = _inject_catalog_faults(drng, items, cfg, c)
    pages = render_catalog_pages(items, cfg, platform_id)
    _apply_page_faults(drng, pages, items, cfg, platform_id, bad_pages)

    # A device replaced by a duplicate is not on the platform today: it sends no events.
    present = {id(it) for it in items}
    cams = [t for t, oid in zip(truth, originals) if oid in present]
    events, event_faults = _events(drng, cams, cfg)
    return CameraWorld(config=cfg, key_areas=key_areas, registry=registry, catalog_items=items,
                       catalog_pages=pages, events=events, faults=faults + event_faults)


# ------------------------------------------------------------------ delivery


def _csv_bytes(rows: list[dict], fields: list[str]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def write_drop(world: CameraWorld, drop_root: Path,
               parts: tuple[str, ...] = ("key_areas", "registry", "catalog", "status")) -> dict[str, list[Path]]:
    """Write the day's files into the drop folders the connectors watch (only
    ``parts``: a demo that serves the catalogue over HTTP leaves it out), and the
    fault manifest beside them."""
    cfg = world.config
    tag = f"{cfg.city}_{cfg.day:%Y%m%d}"
    base = Path(drop_root) / "cameras"
    out: dict[str, list[Path]] = {}
    if "key_areas" in parts:
        out["key_areas"] = [write_atomic(base / "key_areas" / f"key_areas_{tag}.csv",
                                          _csv_bytes(world.key_areas, KEY_AREA_FIELDS))]
    if "registry" in parts:
        out["registry"] = [write_atomic(base / "registry" / f"registry_{tag}.csv",
                                         _csv_bytes(world.registry, REGISTRY_FIELDS))]
    if "catalog" in parts:
        out["catalog"] = [write_atomic(base / "catalog" / f"catalog_{tag}_p{n:04d}.xml", page)
                          for n, page in enumerate(world.catalog_pages, 1)]
    if "status" in parts:
        lines = "".join(event_line(ev) + "\n" for ev in world.events)
        out["status"] = [write_atomic(base / "status" / f"status_{tag}.jsonl", lines.encode("utf-8"))]
    manifest = json.dumps(world.faults, ensure_ascii=False, indent=1).encode("utf-8")
    out["faults"] = [write_atomic(base / f"faults_{tag}.json", manifest)]
    return out


def serve_catalog(pages: list[bytes], host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``GET /catalog?page=N`` (1-based) as the sharing platform's HTTP gateway would.

    Returns the server, already serving in a daemon thread, and its base URL;
    call ``server.shutdown()`` when done.
    """
    def catalog(query: dict[str, str]) -> tuple[int, bytes, str]:
        try:
            page = int(query.get("page", "1"))
        except ValueError:
            return 400, b"page must be an integer\n", "text/plain; charset=utf-8"
        if not 1 <= page <= len(pages):
            return 404, f"no page {page} (1..{len(pages)})\n".encode(), "text/plain; charset=utf-8"
        # No charset: the XML declaration governs, as with the real platform.
        return 200, pages[page - 1], "application/xml"

    return serve_http({"/catalog": catalog}, host=host, port=port)


def publish_events(events: list[dict], bootstrap: str, topic: str) -> int:
    """Publish the events, in delivery order, to Kafka; malformed ones verbatim and unkeyed."""
    lines = []
    for ev in events:
        device = None if "_raw" in ev else ev.get("device_id")
        lines.append((device.encode() if device else None, event_line(ev).encode("utf-8")))
    return publish(lines, bootstrap, topic)
