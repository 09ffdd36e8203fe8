"""Simulator of one city's traffic signal control platform, faults included.

No real signal platform can be reached, so this module produces what the
connectors are written against, in the form such platforms export it (JSON):

* the intersection inventory, served page by page over HTTP by
  :func:`serve_inventory` (with ``updated_since`` for incremental pulls) and
  dropped as one JSON document by :func:`write_drop`;
* controller status events (GB/T 20999 controllers report mode changes,
  faults, going offline and back), as JSON lines and on Kafka.

The road network, intersections, road classes, e-police checkpoints and each
intersection's installed control system depend only on ``(city, seed)``; what
happens on the day (current mode, online, ``updated_at``, events, faults)
depends on ``(city, seed, day)``. Every injected fault is listed in
:attr:`TrafficWorld.faults` with what a connector should do with it.

Each intersection carries the township-level unit it lies in (``township_code``,
a real unit of its county; ``null`` for the ~3% the platform has no code for):
arterial crossings are mostly in streets (urban), branch junctions a little more
often in towns.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from cityhub.declarations.regions import City
from cityhub_sim.common import city as get_city
from cityhub_sim.common import Townships, kind_table, publish, serve_http, unknown_county_code, write_atomic

# --------------------------------------------------------------------------- config


@dataclass
class TrafficConfig:
    city: str = "371400"
    declarations: Path | None = None
    """Where the city is declared (default: the declarations installed with the hub)."""
    seed: int = 1
    day: date = date(2026, 11, 22)
    intersections_per_county: int = 140
    fault_rate: float = 0.02  # per item, per fault class
    page_size: int = 200
    events_per_intersection: float = 2.0


@dataclass
class TrafficWorld:
    config: TrafficConfig
    intersections: list[dict] = field(default_factory=list)  # inventory items as served
    events: list[dict] = field(default_factory=list)  # delivery order; malformed as {"_raw": line}
    faults: list[dict] = field(default_factory=list)


INVENTORY_FAULTS = (
    "duplicate_item", "bad_region", "unknown_control_mode", "missing_id", "bad_type",
    "new_field", "missing_field",
)
EVENT_FAULTS = ("duplicate_event", "malformed_event", "unknown_intersection", "out_of_order")
EXPECT = {
    "duplicate_item": "quarantine",
    "bad_region": "quarantine",
    "unknown_control_mode": "quarantine",
    "missing_id": "quarantine",
    "bad_type": "quarantine",
    "new_field": "drift",
    "missing_field": "drift",
    "duplicate_event": "quarantine",
    "malformed_event": "quarantine",
    "unknown_intersection": "quarantine",
    "out_of_order": "land",
}

CONTROL_MODES = ("fixed_time", "actuated", "adaptive", "coordinated", "manual", "flashing", "off")
EVENT_KINDS = ("mode_change", "fault", "offline", "online")
UNKNOWN_MODES = ("smart", "green_wave", "auto")
MAX_PAGE_SIZE = 1000
TZ = timezone(timedelta(hours=8))  # China Standard Time: the platforms' clock
DAY_SECONDS = 86_400
UPDATE_WINDOW_DAYS = 30

# ------------------------------------------------------------------ vocabulary

# Arterial and branch words are disjoint, so an arterial and a branch street never share a name.
ARTERIAL_WORDS = (
    "新华", "人民", "解放", "建设", "文化", "胜利", "和平", "中山", "东风", "长河", "湖滨", "振华",
    "迎宾", "光明", "跃进", "青年", "育才", "团结", "东方红", "三八", "新河", "大学", "兴业", "振兴",
    "富民", "工业", "商贸", "经济", "开发", "府前", "站前", "北环", "南环", "东环", "西环", "滨河",
    "朝阳", "红旗", "向阳", "齐鲁", "泰山", "黄河", "运河", "体育", "新兴", "民主", "公园", "中心",
)
ARTERIAL_SUFFIXES = ("路",) * 7 + ("大道",) * 2 + ("大街",)
BRANCH_WORDS = (
    "育英", "桃园", "杏园", "梨园", "建华", "康宁", "安居", "福民", "兴华", "永安", "平安", "和谐",
    "翠园", "锦绣", "玉泉", "清河", "柳湖", "荷花", "百花", "丰收", "友谊", "新村", "东关", "西关",
    "南关", "北关", "仓储", "粮库", "电厂", "棉厂", "农机", "纺织", "卫生", "花园", "幸福", "书院",
)
BRANCH_SUFFIXES = ("街",) * 2 + ("巷", "路")

# Where intersections lie, by road class: weights of street (街道), town (镇), township
# (乡) and town-like unit. Signalised junctions are urban; majors even more so.
UNITS = {"major": kind_table(90, 8, 1, 1), "branch": kind_table(76, 20, 2, 2)}

MAJOR_SHARE = 0.75
EPOLICE_SHARE = {"major": 0.55, "branch": 0.08}
ONLINE_SHARE = 0.95
# Installed control system, as integer weights (adaptive/fixed/actuated/coordinated).
SYSTEM_MODES = ("adaptive", "fixed_time", "actuated", "coordinated")
SYSTEM_WEIGHTS = {"major": (73, 53, 37, 37), "branch": (2, 30, 12, 4)}
# Share of intersections not running their system today (police manual control,
# yellow flashing, switched off); branch junctions often flash.
DEGRADED_SHARE = {"major": 0.04, "branch": 0.08}
DEGRADED_MODES = ("flashing",) * 2 + ("off", "manual")
# Where a controller falls back to when it leaves its installed system.
FALLBACK = {
    "adaptive": ("coordinated", "fixed_time", "manual"),
    "coordinated": ("fixed_time", "manual", "flashing"),
    "fixed_time": ("flashing", "manual"),
    "actuated": ("fixed_time", "flashing"),
}

# ------------------------------------------------------------------ helpers

_CN_DIGITS = "零一二三四五六七八九"


def _cn_number(n: int) -> str:
    """Chinese numerals for 1..99 (as in 经十路); larger numbers stay Arabic."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _CN_DIGITS[tens] + "十")
    return head + (_CN_DIGITS[ones] if ones else "")


def _table(values: tuple, weights: tuple[int, ...]) -> tuple:
    """Expand integer weights into a lookup table: one ``random()`` per weighted pick."""
    return tuple(v for v, w in zip(values, weights) for _ in range(w))


SYSTEM_TABLE = {cls: _table(SYSTEM_MODES, w) for cls, w in SYSTEM_WEIGHTS.items()}


def _stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S+08:00")




def _pick_names(rng: random.Random, words: list[str], suffixes: tuple[str, ...], n: int,
                extra: str) -> list[str]:
    """``n`` distinct road names: words from the pool first, then numbered roads
    (``extra`` is a template such as ``纬{}路``) when a big county needs more."""
    take = min(n, len(words))
    names = [w + rng.choice(suffixes) for w in words[:take]]
    names += [extra.format(_cn_number(k)) for k in range(1, n - take + 1)]
    return names


# ------------------------------------------------------------------ structure (by seed)


def _county_intersections(rng: random.Random, county: str, n: int, trng: random.Random) -> list[dict]:
    """One county's signalised intersections on a grid of arterials plus branch streets.

    Major intersections are crossings of an east-west and a north-south arterial;
    branch ones join an arterial and a branch street. Names are unique in the county.
    Township codes are drawn with ``trng`` alone, so they change nothing else.
    """
    if n <= 0:
        return []
    n_major = min(n, round(n * rng.uniform(MAJOR_SHARE - 0.03, MAJOR_SHARE + 0.03)))
    n_branch = n - n_major
    side = max(2, math.isqrt(max(n_major - 1, 0)) + 2)  # side*side > n_major: not every crossing is signalised
    words = rng.sample(ARTERIAL_WORDS, len(ARTERIAL_WORDS))
    half = len(words) // 2
    ew = _pick_names(rng, words[:half], ARTERIAL_SUFFIXES, side, "纬{}路")
    ns = _pick_names(rng, words[half:], ARTERIAL_SUFFIXES, side, "经{}路")
    arterials = ew + ns
    n_streets = max(1, -(-n_branch // 4), -(-n_branch // len(arterials)))
    streets = _pick_names(rng, rng.sample(BRANCH_WORDS, len(BRANCH_WORDS)), BRANCH_SUFFIXES,
                          n_streets, "新村{}巷")
    rows: list[tuple[str, str, str]] = []
    for cell in rng.sample(range(side * side), n_major):
        a, b = ew[cell // side], ns[cell % side]
        rows.append(("major", *((a, b) if rng.random() < 0.5 else (b, a))))
    for cell in rng.sample(range(len(arterials) * n_streets), n_branch):
        rows.append(("branch", arterials[cell // n_streets], streets[cell % n_streets]))
    rng.shuffle(rows)  # serial numbers do not follow road class

    out = []
    r = rng.random
    units, t = Townships(county), trng.random
    for serial, (cls, major, minor) in enumerate(rows, 1):
        table = SYSTEM_TABLE[cls]
        out.append({
            "id": f"TS{county}-{serial:04d}",
            "name": f"{major}与{minor}交叉口",
            "region": county,
            "township_code": units.pick(t, UNITS[cls]),
            "major_road": major,
            "minor_road": minor,
            "road_class": cls,
            "signalised": True,
            "epolice": r() < EPOLICE_SHARE[cls],
            "_system": table[int(r() * len(table))],  # installed control system; stripped later
        })
    return out


# ------------------------------------------------------------------ the day (by day)


def _today(rng: random.Random, items: list[dict], cfg: TrafficConfig) -> None:
    """Current control mode, online flag and last update (within 30 days before the day)."""
    r = rng.random
    start = datetime.combine(cfg.day, datetime.min.time(), TZ) - timedelta(days=UPDATE_WINDOW_DAYS)
    window = UPDATE_WINDOW_DAYS * DAY_SECONDS
    for it in items:
        cls = it["road_class"]
        mode = (DEGRADED_MODES[int(r() * len(DEGRADED_MODES))]
                if r() < DEGRADED_SHARE[cls] else it["_system"])
        it["control_mode"] = mode
        it["online"] = r() < ONLINE_SHARE
        it["updated_at"] = _stamp(start + timedelta(seconds=int(r() * window)))


def _inject_inventory_faults(rng: random.Random, items: list[dict], cfg: TrafficConfig,
                             c: City) -> list[dict]:
    """Put at most one fault on each item, in place; returns the manifest entries.

    A duplicate *replaces* another item (that intersection is then absent today),
    so the inventory size stays ``counties x intersections_per_county``. A
    ``missing_id`` item is chosen among names unique in the city, so the manifest
    can name it.
    """
    rate, n = cfg.fault_rate, len(items)
    if rate <= 0 or n < 2:
        return []
    taken: set[int] = set()
    name_count: dict[str, int] = {}
    for it in items:
        name_count[it["name"]] = name_count.get(it["name"], 0) + 1
    unknown_region = unknown_county_code(c)
    manifest: list[dict] = []
    missing_no = 0

    def inject(i: int, kind: str) -> bool:
        nonlocal missing_no
        if i in taken:
            return False
        it = items[i]
        entry = {"source": "inventory", "kind": kind, "key": it["id"], "expect": EXPECT[kind]}
        if kind == "duplicate_item":
            j = rng.randrange(n)
            if j in taken or j == i:
                return False
            # The same record served again with another update time: a platform that
            # kept the old version alongside the edited one.
            items[j] = dict(it, updated_at=items[j]["updated_at"])
            taken.add(j)
        elif kind == "bad_region":
            it["region"] = unknown_region
        elif kind == "unknown_control_mode":
            it["control_mode"] = rng.choice(UNKNOWN_MODES)
        elif kind == "missing_id":
            if name_count[it["name"]] != 1:
                return False
            missing_no += 1
            del it["id"]
            entry.update(key=f"missing-{missing_no}", name=it["name"], region=it["region"])
        elif kind == "bad_type":
            it["signalised"] = "是"
        elif kind == "new_field":
            it["detector_count"] = rng.choice((4, 8, 12))
        elif kind == "missing_field":
            del it["minor_road"]
        taken.add(i)
        manifest.append(entry)
        return True

    # One of each class first (tests rely on every class occurring), then each
    # item draws each class with probability ``rate``.
    for kind in INVENTORY_FAULTS:
        for _ in range(200):
            if inject(rng.randrange(n), kind):
                break
    n_kinds = len(INVENTORY_FAULTS)
    p_any = min(1.0, rate * n_kinds)
    for i in range(n):
        u = rng.random()
        if u < p_any:
            inject(i, INVENTORY_FAULTS[int(u / p_any * n_kinds)])
    return manifest


def event_line(ev: dict) -> str:
    """The JSON line delivered for an event (malformed events carry their raw text)."""
    raw = ev.get("_raw")
    return raw if raw is not None else json.dumps(ev, ensure_ascii=False)


def _controller_events(rng: random.Random, items: list[dict], cfg: TrafficConfig) -> list[dict]:
    """The day's controller events in time order, each intersection starting from its
    inventory state: offline controllers come back; online ones change mode (flashing
    more at night), report a fault (dropping to yellow flashing) or go offline."""
    prefix = f"{cfg.day.isoformat()}T"
    epi2 = 2.0 * max(0.0, cfg.events_per_intersection)
    r = rng.random
    recs: list[tuple[int, int, dict]] = []
    for it in items:
        k = int(epi2 * r() + r())  # mean exactly events_per_intersection
        if not k:
            continue
        iid, region, system = it["id"], it["region"], it["_system"]
        mode, online = it["control_mode"], it["online"]
        for j, s in enumerate(sorted(int(r() * DAY_SECONDS) for _ in range(k)), 1):
            if not online:
                kind, online = "online", True
            else:
                u = r()
                kind = "mode_change" if u < 0.70 else "fault" if u < 0.85 else "offline"
            if kind == "mode_change":
                night = s < 6 * 3600 or s >= 23 * 3600
                if mode != system and r() < 0.7:
                    new = system
                elif night and mode != "flashing" and r() < 0.5:
                    new = "flashing"
                else:
                    options = [m for m in FALLBACK[system] + (system,) if m != mode]
                    new = options[int(r() * len(options))]
                mode = new
            elif kind == "fault":
                mode = "flashing"
            elif kind == "offline":
                online = False
            recs.append((s, len(recs), {
                "event_id": f"{iid}-{j}", "intersection_id": iid, "region": region, "kind": kind,
                "control_mode": None if kind == "offline" else mode,
                "event_time": f"{prefix}{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+08:00",
            }))
    recs.sort(key=lambda rec: (rec[0], rec[1]))
    return [rec[2] for rec in recs]


def _inject_event_faults(rng: random.Random, events: list[dict], cfg: TrafficConfig,
                         known_ids: set[str]) -> tuple[list[dict], list[dict]]:
    """Garble the event stream; returns it in delivery order and the manifest entries.

    Duplicates are re-delivered a few hundred messages later; an out-of-order pair
    is two adjacent events swapped (the older arrives second) and nothing is
    inserted between them.
    """
    n, rate = len(events), cfg.fault_rate
    if rate <= 0 or n < 4:
        return events, []
    secs = [ev["event_time"] for ev in events]  # same day and format: string order is time order
    kinds: list[str | None] = [None] * n

    def assign(i: int, kind: str) -> bool:
        if kinds[i] is not None:
            return False
        if kind == "out_of_order":
            if i + 1 >= n or kinds[i + 1] is not None or secs[i] == secs[i + 1]:
                return False
            kinds[i + 1] = "_pair"
        kinds[i] = kind
        return True

    for kind in EVENT_FAULTS:
        for _ in range(500):
            if assign(rng.randrange(n), kind):
                break
    n_kinds = len(EVENT_FAULTS)
    p_any = min(1.0, rate * n_kinds)
    for i in range(n):
        if kinds[i] is None:
            u = rng.random()
            if u < p_any:
                assign(i, EVENT_FAULTS[int(u / p_any * n_kinds)])

    manifest: list[dict] = []
    stream: list[dict] = []
    dups: list[tuple[int, dict]] = []
    pair_first: set[int] = set()
    used_ids = {ev["event_id"] for ev in events}
    malformed_no = 0
    ceiling = cfg.intersections_per_county + 1

    def note(kind: str, key: str) -> None:
        manifest.append({"source": "events", "kind": kind, "key": key, "expect": EXPECT[kind]})

    i = 0
    while i < n:
        ev, kind = events[i], kinds[i]
        if kind == "out_of_order":
            pair_first.add(len(stream))
            stream += [events[i + 1], ev]
            note(kind, ev["event_id"])
            i += 2
            continue
        if kind == "malformed_event":
            malformed_no += 1
            line = event_line(ev)
            stream.append({"_raw": line[: rng.randint(10, len(line) - 2)]})  # cut off: not JSON
            note(kind, f"malformed-{malformed_no}")
        elif kind == "unknown_intersection":
            # A controller the inventory does not list (newly built, or a mistyped code).
            while True:
                iid = f"TS{ev['region']}-{ceiling + rng.randrange(500):04d}"
                eid = f"{iid}-{ev['event_id'].rsplit('-', 1)[1]}"
                if iid not in known_ids and eid not in used_ids:
                    break
            used_ids.add(eid)
            stream.append(dict(ev, event_id=eid, intersection_id=iid))
            note(kind, eid)
        else:
            stream.append(ev)
            if kind == "duplicate_event":
                dups.append((len(stream) - 1, ev))
                note(kind, ev["event_id"])
        i += 1

    inserts: dict[int, list[dict]] = {}
    m = len(stream)
    for pos, ev in dups:
        at = min(m - 1, pos + rng.randint(1, 300))
        inserts.setdefault(at + 1 if at in pair_first else at, []).append(dict(ev))
    out: list[dict] = []
    for pos, ev in enumerate(stream):
        out.append(ev)
        out += inserts.get(pos, ())
    return out, manifest


# ------------------------------------------------------------------ the world


def generate(cfg: TrafficConfig) -> TrafficWorld:
    """Build the signal platform's world for ``cfg``.

    With ``fault_rate > 0`` every fault class occurs at least once, given enough
    items (a handful of intersections, and at least four events). Events come
    only from intersections whose inventory item lands (clean or drift), so the
    only events a connector cannot match are the injected ``unknown_intersection``.
    """
    c = get_city(cfg.city, cfg.declarations)
    srng = random.Random(f"traffic/{c.code}/{cfg.seed}")
    drng = random.Random(f"traffic/{c.code}/{cfg.seed}/{cfg.day.isoformat()}")
    trng = random.Random(f"traffic/{c.code}/{cfg.seed}/townships")
    items = [it for county in c.counties
             for it in _county_intersections(srng, county, cfg.intersections_per_county, trng)]
    all_ids = {it["id"] for it in items}
    _today(drng, items, cfg)
    faults = _inject_inventory_faults(drng, items, cfg, c)

    refused = {f["key"] for f in faults if f["expect"] == "quarantine"}
    landing = [it for it in items if "id" in it and it["id"] not in refused]
    events = _controller_events(drng, landing, cfg)
    events, event_faults = _inject_event_faults(drng, events, cfg, all_ids)

    for it in items:  # duplicates share dicts' contents, never the dict itself
        it.pop("_system", None)
    items.sort(key=lambda it: (it["updated_at"], it.get("id", "")))
    return TrafficWorld(config=cfg, intersections=items, events=events, faults=faults + event_faults)


# ------------------------------------------------------------------ delivery


def _json(status: int, body: object) -> tuple[int, bytes, str]:
    return status, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8"


def _parse_since(value: str) -> datetime:
    """ISO-8601; a naive time is China time. An unencoded ``+`` in the query
    arrives as a space, so that spelling is accepted too."""
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        dt = datetime.fromisoformat(value.replace(" ", "+"))
    return dt if dt.tzinfo else dt.replace(tzinfo=TZ)


def serve_inventory(world: TrafficWorld, fail_every: int = 0, port: int = 0):
    """Serve ``GET /api/v1/intersections?page=&page_size=&updated_since=`` as the
    platform's REST API does; returns ``(server, base_url)``; call ``server.shutdown()``.

    ``total`` counts the items matching ``updated_since``; a page past the end is
    empty (200); invalid parameters get 400 with ``{"error": ...}``.
    """
    items = list(world.intersections)
    times = [datetime.fromisoformat(it["updated_at"]) for it in items]
    default_size = world.config.page_size

    def intersections(query: dict[str, str]) -> tuple[int, bytes, str]:
        try:
            page = int(query.get("page", "1"))
            size = int(query.get("page_size", str(default_size)))
        except ValueError:
            return _json(400, {"error": "page and page_size must be integers"})
        if page < 1:
            return _json(400, {"error": f"page must be >= 1, got {page}"})
        if not 1 <= size <= MAX_PAGE_SIZE:
            return _json(400, {"error": f"page_size must be 1..{MAX_PAGE_SIZE}, got {size}"})
        matching = items
        since = query.get("updated_since")
        if since is not None:
            try:
                cut = _parse_since(since)
            except ValueError:
                return _json(400, {"error": f"updated_since is not ISO-8601: {since!r}"})
            matching = [it for it, t in zip(items, times) if t > cut]
        start = (page - 1) * size
        return _json(200, {"total": len(matching), "page": page, "page_size": size,
                           "items": matching[start:start + size]})

    return serve_http({"/api/v1/intersections": intersections}, port=port, fail_every=fail_every)


def write_drop(world: TrafficWorld, drop_root: Path) -> dict[str, list[Path]]:
    """Write the day's inventory export, event file and fault manifest into the drop
    folders the connectors watch. ``exported_at`` is the nightly export time on the
    day (deterministic, unlike the wall clock)."""
    cfg = world.config
    tag = f"{cfg.city}_{cfg.day:%Y%m%d}"
    base = Path(drop_root) / "traffic"
    doc = {"exported_at": f"{cfg.day.isoformat()}T01:30:00+08:00", "items": world.intersections}
    lines = "".join(event_line(ev) + "\n" for ev in world.events)
    manifest = json.dumps(world.faults, ensure_ascii=False, indent=1)
    return {
        "intersections": [write_atomic(base / "intersections" / f"intersections_{tag}.json",
                                       json.dumps(doc, ensure_ascii=False).encode("utf-8"))],
        "events": [write_atomic(base / "events" / f"signal_events_{tag}.jsonl", lines.encode("utf-8"))],
        "faults": [write_atomic(base / f"faults_{tag}.json", manifest.encode("utf-8"))],
    }


def publish_events(world: TrafficWorld, bootstrap: str, topic: str) -> int:
    """Publish the events in delivery order, keyed by intersection (so one
    intersection's events share a partition); malformed ones verbatim and unkeyed."""
    lines = [(None if "_raw" in ev else ev["intersection_id"].encode("utf-8"),
              event_line(ev).encode("utf-8")) for ev in world.events]
    return publish(lines, bootstrap, topic)
