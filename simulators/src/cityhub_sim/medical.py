"""Simulator of one city's medical-institution feeds (health commission), faults included.

No health-commission platform can be reached, so this module produces the two
sources the connectors are written against, in their real formats:

* the institution registry as HL7 FHIR R4 ``Organization`` resources in
  ``searchset`` Bundles — JSON files in the drop, or paged over HTTP by
  :func:`serve_registry` as a regional health information platform serves them;
* daily outpatient visit counts per institution and appointment channel (CSV),
  which feed indicator #20 (phone, web and app appointments count; an
  appointment made on site at the hospital does not).

The registry is deterministic by ``(city, seed)``; a day's visit counts by
``(city, seed, day)`` and are computed on demand (a year for ~6,000
institutions is millions of rows, so nothing is kept). Every injected fault is
in a manifest — :attr:`MedicalWorld.faults` for the registry,
:func:`visit_faults` for a day's counts, both written by :func:`write_drop` —
so tests can check what the connectors quarantine.

Each institution lies in a real township-level unit of its county, delivered as the
address's ``township-code`` extension (absent for the ~3% the platform has no code
for): township health centres (乡镇卫生院) are in towns and townships, one per unit
first, community health centres in streets, public hospitals in the county seat's
streets, private hospitals mostly there too, clinics and village clinics anywhere.

As in :mod:`hub.simulator.cameras`, each item draws each fault class with
probability ``fault_rate`` (one fault per item at most), and every class occurs
at least once whenever ``fault_rate > 0``.
"""
from __future__ import annotations

import copy
import csv
import heapq
import io
import json
import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import numpy as np
import orjson

from cityhub.declarations.regions import City
from cityhub_sim.common import city as get_city
from cityhub_sim.common import (STREET, Townships, kind_table, recorded, serve_http, unknown_county_code,
                                write_atomic)

# --------------------------------------------------------------------------- config


@dataclass
class MedicalConfig:
    city: str = "371400"
    declarations: Path | None = None
    """Where the city is declared (default: the declarations installed with the hub)."""
    seed: int = 1
    start: date = date(2026, 11, 1)
    days: int = 22                      # visit counts for start .. start + days - 1
    institutions_per_county: int = 545  # ~6,000 for an 11-county city
    fault_rate: float = 0.02
    bundle_size: int = 500


@dataclass
class _Reporters:
    """Per-institution parameters of the visit counts, as numpy arrays (one row each)."""
    uscc: list[str]
    emit: np.ndarray          # False for institutions whose registry record is faulted
    mean: np.ndarray          # mean daily visits
    shares: np.ndarray        # (n, 5) channel shares, rows sum to 1
    known: frozenset[str]     # every USCC the registry mentions, for unknown_institution
    counties: tuple[str, ...]
    cache: dict = field(default_factory=dict)  # the last day computed


@dataclass
class MedicalWorld:
    config: MedicalConfig
    organizations: list[dict] = field(default_factory=list)  # as delivered, faults included
    bundles: list[bytes] = field(default_factory=list)        # as dropped (truncated one included)
    faults: list[dict] = field(default_factory=list)          # the registry's; see visit_faults()
    _reporters: _Reporters | None = field(default=None, repr=False, compare=False)


# ------------------------------------------------------------------ vocabulary

FHIR = "https://cityhub.example/fhir"
KIND_SYSTEM = f"{FHIR}/CodeSystem/institution-kind"
REGION_EXT = f"{FHIR}/StructureDefinition/region-code"
TOWNSHIP_EXT = f"{FHIR}/StructureDefinition/township-code"
LEVEL_EXT = f"{FHIR}/StructureDefinition/hospital-level"
NETWORKED_EXT = f"{FHIR}/StructureDefinition/platform-networked"
USCC_SYSTEM = "urn:cn:uscc"
FHIR_JSON = "application/fhir+json; charset=utf-8"
# Base written into the links of dropped bundles (the platform's address is not ours to know).
DROP_BASE = "https://hip.cityhub.example/fhir"

KINDS = {
    "general_hospital": "综合医院",
    "tcm_hospital": "中医医院",
    "specialist_hospital": "专科医院",
    "township_health_centre": "乡镇卫生院",
    "community_health_centre": "社区卫生服务中心",
    "village_clinic": "村卫生室",
    "clinic": "诊所",
}
HOSPITALS = ("general_hospital", "tcm_hospital", "specialist_hospital")
# Share of a county's institutions per kind, after a Shandong prefecture's statistics
# (~73% village clinics); village clinics take whatever is left.
KIND_SHARE = {"general_hospital": 0.012, "tcm_hospital": 0.003, "specialist_hospital": 0.008,
              "township_health_centre": 0.022, "community_health_centre": 0.007, "clinic": 0.218}
LEVELS = ("3", "2", "1", "ungraded")
CHANNELS = ("phone", "web", "app", "onsite_appointment", "walk_in")
VISIT_FIELDS = ("date", "institution_uscc", "channel", "visits")

# Public hospitals by rank: the seat district hosts the city's level-3 ones (first
# CITY_TIER names with the city's name), each county its own after them.
PUBLIC_NAMES = {
    "general_hospital": ("人民医院", "第二人民医院", "第三人民医院"),
    "tcm_hospital": ("中医院",),
    "specialist_hospital": ("妇幼保健院", "精神卫生中心", "传染病医院"),
}
CITY_TIER = {"general_hospital": 2, "tcm_hospital": 1, "specialist_hospital": 1}
COUNTY_TIER = {"general_hospital": 2, "tcm_hospital": 1, "specialist_hospital": 2}
PRIVATE_WORDS = {
    "general_hospital": ("医院",),
    "tcm_hospital": ("中医医院", "中医院"),
    "specialist_hospital": ("骨科医院", "眼科医院", "口腔医院", "妇产医院", "康复医院", "肛肠医院",
                            "耳鼻喉医院", "皮肤病医院", "肿瘤医院"),
}
BRANDS = ("仁和", "康宁", "同济", "济民", "惠民", "益康", "博爱", "安康", "德仁", "华康", "协和", "仁爱",
          "民生", "福寿", "东方", "长城", "康复", "瑞康", "永康", "泰和")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟段钱汤尹常武乔贺龚"
GIVEN = "建国伟华明军芳丽强磊敏静洪涛波勇杰峰刚平红霞燕玉兰秀英志海春德福永胜文庆学"
PLACE_SUFFIXES = ("庄", "集", "寨", "屯", "店", "桥", "楼", "营", "堡", "洼", "口", "官屯", "家庄", "家寨",
                  "家洼", "庙", "园", "坊")
STREETS = ("新华", "人民", "解放", "建设", "文化", "胜利", "和平", "中山", "东风", "长河", "湖滨", "振华",
           "天衢", "迎宾", "光明", "跃进", "青年", "育才", "新湖", "广川", "运河", "宁安")
CLINIC_SPECIALTIES = ("", "", "", "中医", "口腔", "内科", "西医", "中西医结合", "儿科", "外科")

# Where institutions lie: weights of street (街道), town (镇), township (乡) and town-like
# unit. Health centres and community centres are not drawn by weight: one per town or
# township, and one per street, before any unit gets a second.
UNITS = {
    "public_hospital": kind_table(95, 5, 0, 0),    # the county seat (a few big towns' 中心医院)
    "private_hospital": kind_table(78, 19, 1, 2),
    "clinic": kind_table(60, 34, 3, 3),
    "village_clinic": kind_table(20, 70, 8, 2),   # streets have villages too (城中村)
}

# Networked to the regional health information platform (#18): ~85% overall.
NETWORKED = {"graded": 0.97, "village_clinic": 0.88, "clinic": 0.72, "other": 0.85}
INACTIVE_SHARE = 0.005  # closed village clinics and clinics still in the registry (active=false)
# Ungraded institutions that report visit counts at all (graded ones always do). With
# every reporter filing all five channels, a year for ~6,000 institutions is ~6.5M rows.
REPORTS_UNGRADED = {"village_clinic": 0.6, "clinic": 0.5, "other": 0.8}
# Mean daily outpatient visits, drawn log-uniformly per institution, scaled by kind.
LEVEL_VISITS = {"3": (2500, 6000), "2": (500, 2000), "1": (40, 250), "ungraded": (15, 100)}
KIND_VISIT_SCALE = {"general_hospital": 1.0, "tcm_hospital": 0.6, "specialist_hospital": 0.45,
                    "township_health_centre": 0.8, "community_health_centre": 0.6}
SMALL_VISITS = {"village_clinic": (2, 20), "clinic": (4, 35)}
# Channel shares by level (phone, web, app, onsite_appointment); walk_in takes the rest.
CHANNEL_MIX = {"3": (0.04, 0.08, 0.33, 0.15), "2": (0.04, 0.05, 0.20, 0.12),
               "1": (0.03, 0.02, 0.08, 0.05), "ungraded": (0.01, 0.005, 0.02, 0.01)}
WEEKDAY_FACTOR = (1.18, 1.08, 1.03, 1.0, 0.98, 0.78, 0.62)  # Monday .. Sunday

REGISTRY_FAULTS = ("bad_uscc_check", "missing_identifier", "unknown_region", "bad_level",
                   "duplicate_organization")
VISIT_FAULTS = ("negative_visits", "unknown_channel", "unknown_institution", "non_numeric_visits")
# Registry faults that keep a record from landing (a duplicate still lands once).
SILENCING = frozenset(REGISTRY_FAULTS) - {"duplicate_organization"}
UNKNOWN_CHANNELS = ("wechat", "alipay", "self_service_kiosk")

# ------------------------------------------------------------------ identifiers

# GB 32100-2015's character table, in the standard's order (value = index): no I, O, S, V, Z.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # W_i = 3^(i-1) mod 31


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character of a unified social credit code's first 17 characters."""
    if len(first17) != 17 or any(ch not in _USCC_VALUE for ch in first17):
        raise ValueError(f"not the first 17 characters of a USCC: {first17!r}")
    c = 31 - sum(_USCC_VALUE[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS)) % 31
    return USCC_ALPHABET[0 if c == 31 else c]


def _org_code(body8: str) -> str:
    """Positions 9-17: a GB 11714 organisation code, whose own MOD 11 check (0-9 or X) is last,
    as in real codes."""
    c = 11 - sum(int(ch, 36) * w for ch, w in zip(body8, (3, 7, 9, 10, 5, 8, 4, 2))) % 11
    return body8 + ("X" if c == 10 else "0" if c == 11 else str(c))


def _new_uscc(rng: random.Random, prefix: str, region: str, used: set[str]) -> str:
    """A fresh valid code. Public institutions' organisation codes start with 4; codes
    issued since 2015 to enterprises and social organisations start with MA."""
    while True:
        if prefix == "12":
            body = "4" + "".join(rng.choices("0123456789", k=7))
        elif rng.random() < 0.5:
            body = "MA" + "".join(rng.choices(USCC_ALPHABET, k=6))
        else:
            body = "".join(rng.choices("0123456789", k=8))
        first17 = prefix + region + _org_code(body)
        code = first17 + uscc_check_char(first17)
        if code not in used:
            return code




# ------------------------------------------------------------------ the registry (by seed)


def _numeral(k: int) -> str:
    return "一二三四五六七八九十"[k - 1] if k <= 10 else str(k)


def _unique(used: set[str], stem: Callable[[], str], fmt: str = "{}") -> str:
    """``fmt`` filled with a fresh stem; numbered stems (王庄二, 王庄三) once draws keep colliding."""
    for _ in range(40):
        name = fmt.format(stem())
        if name not in used:
            break
    else:
        base, k = stem(), 2
        while (name := fmt.format(base + _numeral(k))) in used:
            k += 1
    used.add(name)
    return name


def _county_kinds(n: int, seat: bool, district: bool) -> list[str]:
    """The kinds of a county's ``n`` institutions, biggest first (the registry's serial order).

    The seat district also hosts the city's hospitals; districts (区) have twice the
    community centres. A tiny ``n`` keeps the hospitals and drops the rest."""
    counts = {k: max(1, round(n * s)) for k, s in KIND_SHARE.items()}
    if seat:
        for k, extra in CITY_TIER.items():
            counts[k] += extra
    if district:
        counts["community_health_centre"] *= 2
    kinds = [k for k in KINDS if k != "village_clinic" for _ in range(counts[k])]
    kinds += ["village_clinic"] * (n - len(kinds))
    return kinds[:n]


def _hospital(rng: random.Random, c: City, cname: str, kind: str, i: int, seat: bool,
              used: set[str]) -> tuple[str, str, str]:
    """(name, level, registration prefix) of the county's ``i``-th hospital of ``kind``."""
    if seat:
        if i < CITY_TIER[kind]:
            return _unique(used, lambda: c.name + PUBLIC_NAMES[kind][i]), "3", "12"
        i -= CITY_TIER[kind]
    if i < COUNTY_TIER[kind] and i < len(PUBLIC_NAMES[kind]):
        name = _unique(used, lambda: cname + PUBLIC_NAMES[kind][i])
        if i == 0 and kind != "specialist_hospital":
            level = "3" if not seat and kind == "general_hospital" and rng.random() < 0.25 else "2"
        else:
            level = "2" if rng.random() < 0.6 else "1"
        return name, level, "12"
    name = _unique(used, lambda: cname + rng.choice(BRANDS) + rng.choice(PRIVATE_WORDS[kind]))
    x = rng.random()
    level = "1" if x < 0.45 else "2" if x < 0.6 else "ungraded"
    return name, level, "52" if rng.random() < 0.6 else "91"


def _place(rng: random.Random) -> str:
    """A town or village stem: 王庄, 李家寨."""
    return rng.choice(SURNAMES) + rng.choice(PLACE_SUFFIXES)


def _clinic_stem(rng: random.Random) -> str:
    """A clinic goes by its owner's name or a brand, and maybe a specialty: 王建国中医, 仁和口腔."""
    who = (rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))
           if rng.random() < 0.5 else rng.choice(BRANDS))
    return who + rng.choice(CLINIC_SPECIALTIES)


def _institutions(rng: random.Random, c: City, cfg: MedicalConfig, trng: random.Random) -> list[dict]:
    """The registry as it really is: one record per institution, in serial order per county.

    Where each one lies is drawn with ``trng``; a county the township data does not know
    gets made-up town and street names and no township codes."""
    names: set[str] = set()
    codes: set[str] = set()
    seat = next(iter(c.counties))
    records: list[dict] = []
    t = trng.random
    for county, cname in c.counties.items():
        kinds = _county_kinds(cfg.institutions_per_county, county == seat, cname.endswith("区"))
        units = Townships(county)
        # One health centre per town or township and one community centre per street, in
        # an order drawn by seed; a county with more centres than units gets branches.
        rural = trng.sample(units.pool("rural"), len(units.pool("rural"))) if units else []
        streets = trng.sample(units.pool(STREET), len(units.pool(STREET))) if units else []
        villages: set[str] = set()
        seen = dict.fromkeys(KINDS, 0)
        for serial, kind in enumerate(kinds, 1):
            i = seen[kind]
            seen[kind] += 1
            if kind in HOSPITALS:
                name, level, prefix = _hospital(rng, c, cname, kind, i, county == seat, names)
                where = units.draw(t, UNITS["public_hospital" if prefix == "12" else "private_hospital"])
            elif kind == "township_health_centre":
                where = rural[i % len(rural)] if rural else None
                town = units.names[where] if where else _place(rng) + "镇"
                if i < max(1, len(rural)):
                    name = _unique(names, lambda: cname + town, "{}卫生院")
                else:
                    name = _unique(names, lambda: f"{cname}{town}卫生院{_place(rng)}", "{}分院")
                level, prefix = ("1" if rng.random() < 0.85 else "ungraded"), "12"
            elif kind == "community_health_centre":
                where = streets[i % len(streets)] if streets else None
                street = units.names[where] if where else rng.choice(STREETS) + "街道"
                if i < max(1, len(streets)):
                    name = _unique(names, lambda: cname + street, "{}社区卫生服务中心")
                else:
                    name = _unique(names, lambda: f"{cname}{street}{_place(rng)}社区", "{}卫生服务中心")
                level, prefix = ("1" if rng.random() < 0.8 else "ungraded"), "12"
            elif kind == "village_clinic":
                where = units.draw(t, UNITS["village_clinic"])
                town = units.names[where] if where else _place(rng) + "镇"
                village = _unique(villages, lambda: _place(rng))
                name = _unique(names, lambda: f"{cname}{town}{village}村", "{}卫生室")
                level, prefix = "ungraded", "52" if rng.random() < 0.55 else "92"
            else:
                where = units.draw(t, UNITS["clinic"])
                name = _unique(names, lambda: cname + _clinic_stem(rng), "{}诊所")
                level, prefix = "ungraded", "92" if rng.random() < 0.7 else "91"
            group = "graded" if level != "ungraded" else kind if kind in SMALL_VISITS else "other"
            uscc = _new_uscc(rng, prefix, county, codes)
            codes.add(uscc)
            records.append({
                "id": f"org-{county}-{serial:04d}", "uscc": uscc, "name": name, "kind": kind,
                "level": level, "county": county, "district": cname, "township": recorded(t, where),
                "networked": level == "3" or rng.random() < NETWORKED[group],
                "active": kind not in SMALL_VISITS or rng.random() >= INACTIVE_SHARE,
            })
    return records


def _resource(rec: dict) -> dict:
    """The FHIR R4 Organization the platform delivers for a registry record."""
    return {
        "resourceType": "Organization",
        "id": rec["id"],
        "identifier": [{"system": USCC_SYSTEM, "value": rec["uscc"]}],
        "active": rec["active"],
        "name": rec["name"],
        "type": [{"coding": [{"system": KIND_SYSTEM, "code": rec["kind"], "display": KINDS[rec["kind"]]}]}],
        "address": [{"district": rec["district"],
                     "extension": [{"url": REGION_EXT, "valueCode": rec["county"]}]
                     + ([{"url": TOWNSHIP_EXT, "valueString": rec["township"]}] if rec["township"] else [])}],
        "extension": [{"url": LEVEL_EXT, "valueCode": rec["level"]},
                      {"url": NETWORKED_EXT, "valueBoolean": rec["networked"]}],
    }


# ------------------------------------------------------------------ registry faults


def _inject_registry_faults(rng: random.Random, orgs: list[dict], cfg: MedicalConfig,
                            c: City) -> tuple[list[dict], int | None, list[dict], set[str]]:
    """Deliver ``orgs`` with faults; returns (delivered, truncated bundle number, manifest,
    ids delivered in the truncated bundle).

    The truncated bundle (never the first) is chosen before anything else, and the
    delivery is built in order so that its ``bundle_size`` entries are clean and no
    duplicate lands in it: every other fault stays visible to a connector.
    Duplicates are inserted (the original stays), re-delivered up to two bundles later.
    It needs at least two full bundles of institutions.
    """
    rate, bs, n = cfg.fault_rate, max(1, cfg.bundle_size), len(orgs)
    if rate <= 0 or n == 0:
        return list(orgs), None, [], set()
    truncated = rng.randint(2, n // bs) if n // bs >= 2 else None
    lo, hi = ((truncated - 1) * bs, truncated * bs) if truncated else (0, 0)
    unknown = unknown_county_code(c)
    faulted: dict[str, str] = {}
    manifest: list[dict] = []

    def apply(org: dict, kind: str) -> None:
        if kind == "bad_uscc_check":
            ident = org["identifier"][0]
            ident["value"] = ident["value"][:17] + rng.choice(USCC_ALPHABET.replace(ident["value"][17], ""))
        elif kind == "missing_identifier":
            del org["identifier"]
        elif kind == "unknown_region":
            org["address"][0]["extension"][0]["valueCode"] = unknown
        elif kind == "bad_level":
            org["extension"][0]["valueCode"] = "4"
        faulted[org["id"]] = kind
        manifest.append({"source": "registry", "kind": kind, "key": org["id"], "expect": "quarantine"})

    out: list[dict] = []
    pending: list[tuple[int, int, dict]] = []  # (release position, tie-break, copy)
    p_any, k = min(1.0, rate * len(REGISTRY_FAULTS)), len(REGISTRY_FAULTS)
    for org in orgs:
        while pending and pending[0][0] <= len(out) and not lo <= len(out) < hi:
            out.append(heapq.heappop(pending)[2])
        if not lo <= len(out) < hi and (u := rng.random()) < p_any:
            kind = REGISTRY_FAULTS[int(u / p_any * k)]
            apply(org, kind)
            if kind == "duplicate_organization":
                heapq.heappush(pending, (len(out) + rng.randint(1, 2 * bs), len(manifest), copy.deepcopy(org)))
        out.append(org)
    out += [dup for *_, dup in sorted(pending)]  # all past the truncated bundle: len(out) >= n >= hi

    # Every class at least once (tests rely on it); copies go past the truncated bundle.
    for kind in REGISTRY_FAULTS:
        if kind in faulted.values():
            continue
        clean = [p for p, o in enumerate(out) if not lo <= p < hi and o["id"] not in faulted]
        if not clean:
            continue
        p = rng.choice(clean)
        apply(out[p], kind)
        if kind == "duplicate_organization":
            out.insert(rng.randint(max(p + 1, hi), len(out)), copy.deepcopy(out[p]))
    if truncated:
        manifest.append({"source": "registry", "kind": "truncated_bundle", "key": truncated,
                         "expect": "quarantine"})
    return out, truncated, manifest, {o["id"] for o in out[lo:hi]}


# ------------------------------------------------------------------ bundles


def _page_url(base: str, count: int, offset: int) -> str:
    return f"{base}/Organization?_count={count}&_offset={offset}"


def render_bundle(orgs: list[dict], offset: int, count: int, base: str) -> bytes:
    """One FHIR searchset Bundle: ``count`` entries from ``offset``, ``total`` = all entries,
    a ``next`` link unless it is the last page. FHIR JSON has no empty arrays, so an empty
    page has no ``entry``."""
    total = len(orgs)
    links = [{"relation": "self", "url": _page_url(base, count, offset)}]
    if count > 0 and offset + count < total:
        links.append({"relation": "next", "url": _page_url(base, count, offset + count)})
    bundle: dict = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
    entries = [{"fullUrl": f"{base}/Organization/{o['id']}", "resource": o, "search": {"mode": "match"}}
               for o in orgs[offset:offset + count]]
    if entries:
        bundle["entry"] = entries
    # orjson: as quick as a platform serving from its database (json.dumps took 9 ms a
    # page of 500, which the connector's benchmark then measured instead of the connector)
    return orjson.dumps(bundle)


# ------------------------------------------------------------------ the world


def generate(cfg: MedicalConfig) -> MedicalWorld:
    """The registry for ``cfg`` (organizations, dropped bundles, registry faults).

    Visit counts are not built here; :func:`visit_rows` computes a day on demand.
    The truncated-bundle fault needs at least ``2 * bundle_size`` institutions.
    """
    c = get_city(cfg.city, cfg.declarations)
    # Separate streams: the fault rate never changes the institutions or their visits.
    records = _institutions(random.Random(f"medical/{c.code}/{cfg.seed}"), c, cfg,
                            random.Random(f"medical/{c.code}/{cfg.seed}/townships"))
    frng = random.Random(f"medical/{c.code}/{cfg.seed}/faults")
    orgs, truncated, faults, in_truncated = _inject_registry_faults(
        frng, [_resource(r) for r in records], cfg, c)

    bs = max(1, cfg.bundle_size)
    bundles = [render_bundle(orgs, off, bs, DROP_BASE) for off in range(0, len(orgs), bs) or [0]]
    if truncated:
        data = bundles[truncated - 1]
        bundles[truncated - 1] = data[: frng.randint(len(data) // 4, 3 * len(data) // 4)]

    # Institutions whose record a connector quarantines send no counts, so that every
    # quarantined visit row is in the manifest (duplicates land once: they do send).
    silent = in_truncated | {f["key"] for f in faults if f["kind"] in SILENCING}
    known = {r["uscc"] for r in records} | {o["identifier"][0]["value"] for o in orgs if "identifier" in o}
    return MedicalWorld(config=cfg, organizations=orgs, bundles=bundles, faults=faults,
                        _reporters=_reporters(c, cfg, records, silent, frozenset(known)))


def _reporters(c: City, cfg: MedicalConfig, records: list[dict], silent: set[str],
               known: frozenset[str]) -> _Reporters:
    """Who reports visit counts, their size and channel mix (fixed by seed)."""
    rng = np.random.default_rng([int(c.code), cfg.seed, 20])
    n = len(records)
    pick, digital, onsite = rng.random(n), rng.uniform(0.6, 1.4, n), rng.uniform(0.7, 1.3, n)
    size = rng.random(n)
    rows: list[tuple] = []
    for j, r in enumerate(records):
        level, kind = r["level"], r["kind"]
        group = kind if kind in SMALL_VISITS else "other"
        if not r["active"] or (level == "ungraded" and pick[j] >= REPORTS_UNGRADED[group]):
            continue
        if level == "ungraded" and kind in SMALL_VISITS:
            lo, hi = SMALL_VISITS[kind]
        else:
            lo, hi = (x * KIND_VISIT_SCALE[kind] for x in LEVEL_VISITS[level])
        mean = math.exp(math.log(lo) + size[j] * math.log(hi / lo))
        phone, web, app, on = CHANNEL_MIX[level]
        mix = (phone * digital[j], web * digital[j], app * digital[j], on * onsite[j])
        rows.append((r["uscc"], r["id"] not in silent, mean, (*mix, 1 - sum(mix))))
    return _Reporters(
        uscc=[x[0] for x in rows], emit=np.array([x[1] for x in rows], dtype=bool),
        mean=np.array([x[2] for x in rows]),
        shares=np.array([x[3] for x in rows]).reshape(len(rows), len(CHANNELS)),
        known=known, counties=tuple(c.counties))


# ------------------------------------------------------------------ visits (by day)


def _visit_day(world: MedicalWorld, day: date) -> tuple[list[tuple], list[dict]]:
    """The day's rows and their fault manifest (the last day is cached: rows and
    manifest are usually asked for together)."""
    rep = world._reporters
    if day in rep.cache:
        return rep.cache[day]
    cfg = world.config
    rng = np.random.default_rng([int(cfg.city), cfg.seed, day.toordinal()])
    # Weekday rhythm and a winter (respiratory season) peak in mid-January.
    season = 1 + 0.12 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25)
    jitter = rng.lognormal(0.0, 0.1, len(rep.uscc))
    counts = rng.poisson((rep.mean * jitter * WEEKDAY_FACTOR[day.weekday()] * season)[:, None] * rep.shares)
    # The platform's daily report has a row per channel, zeros included.
    inst, chan = np.nonzero(np.broadcast_to(rep.emit[:, None], counts.shape))
    iso = day.isoformat()
    rows = [(iso, rep.uscc[i], CHANNELS[ch], v)
            for i, ch, v in zip(inst.tolist(), chan.tolist(), counts[inst, chan].tolist())]
    faults = _inject_visit_faults(rng, rows, cfg.fault_rate, rep)
    rep.cache.clear()
    rep.cache[day] = rows, faults
    return rows, faults


def _inject_visit_faults(rng: np.random.Generator, rows: list[tuple], rate: float,
                         rep: _Reporters) -> list[dict]:
    """Garble rows in place (one fault per row) and return the manifest."""
    n = len(rows)
    if rate <= 0 or n == 0:
        return []
    done: set[int] = set()
    new_codes: set[str] = set()
    odd_channels: set[tuple[str, str]] = set()
    urng = random.Random(int(rng.integers(1 << 62)))  # for USCCs, via the registry's own helper
    manifest: list[dict] = []

    def assign(i: int, kind: str) -> bool:
        if i in done:
            return False
        day, uscc, channel, visits = rows[i]
        if kind == "negative_visits":
            visits = -3
        elif kind == "non_numeric_visits":
            visits = "n/a"
        elif kind == "unknown_channel":
            channel = UNKNOWN_CHANNELS[int(rng.integers(len(UNKNOWN_CHANNELS)))]
            if (uscc, channel) in odd_channels:  # keys must stay unique
                return False
            odd_channels.add((uscc, channel))
        else:  # unknown_institution: a valid code the registry never mentions
            county = rep.counties[int(rng.integers(len(rep.counties)))]
            while (uscc := _new_uscc(urng, urng.choice(("12", "52", "91", "92")), county, new_codes)) in rep.known:
                pass
            new_codes.add(uscc)
        rows[i] = (day, uscc, channel, visits)
        done.add(i)
        manifest.append({"source": "visits", "kind": kind, "key": f"{day}|{uscc}|{channel}",
                         "expect": "quarantine"})
        return True

    k = len(VISIT_FAULTS)
    p_any = min(1.0, rate * k)
    u = rng.random(n)
    for i in np.nonzero(u < p_any)[0].tolist():
        assign(i, VISIT_FAULTS[min(k - 1, int(u[i] / p_any * k))])
    present = {f["kind"] for f in manifest}
    for kind in VISIT_FAULTS:
        for _ in range(200 if kind not in present else 0):
            if assign(int(rng.integers(n)), kind):
                break
    return manifest


def visit_rows(world: MedicalWorld, day: date) -> list[tuple]:
    """``(date_iso, uscc, channel, visits)`` rows for ``day``, faults included.

    Deterministic by ``(city, seed, day)``; any day works, not only the configured ones.
    """
    return list(_visit_day(world, day)[0])


def visit_faults(world: MedicalWorld, day: date) -> list[dict]:
    """The manifest of the faults in :func:`visit_rows` for ``day``."""
    return list(_visit_day(world, day)[1])


def _csv_bytes(rows: list[tuple]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(VISIT_FIELDS)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


# ------------------------------------------------------------------ delivery


def write_drop(world: MedicalWorld, drop_root: Path, days: list[date] | None = None) -> dict[str, list[Path]]:
    """Write the registry bundles, one visits CSV per day (all configured days by default)
    and the fault manifest (registry plus those days' visits) into the drop folders.

    Registry and manifest files are dated with the last visit day written.
    """
    cfg = world.config
    days = sorted(set(days)) if days is not None else [cfg.start + timedelta(d) for d in range(cfg.days)]
    last = days[-1] if days else cfg.start + timedelta(max(0, cfg.days - 1))
    base = Path(drop_root) / "medical"
    tag = f"{cfg.city}_{last:%Y%m%d}"
    out: dict[str, list[Path]] = {
        "registry": [write_atomic(base / "registry" / f"organizations_{tag}_b{n:04d}.json", b)
                     for n, b in enumerate(world.bundles, 1)],
        "visits": [],
    }
    faults = list(world.faults)
    for day in days:
        rows, day_faults = _visit_day(world, day)
        out["visits"].append(write_atomic(base / "visits" / f"visits_{cfg.city}_{day:%Y%m%d}.csv",
                                          _csv_bytes(rows)))
        faults += day_faults
    out["faults"] = [write_atomic(base / f"faults_{tag}.json",
                                  json.dumps(faults, ensure_ascii=False, indent=1).encode("utf-8"))]
    return out


def serve_registry(world: MedicalWorld, fail_every: int = 0, port: int = 0,
                   rendered_ahead: bool = False) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``GET /fhir/Organization?_count=N&_offset=M`` as the regional platform does;
    returns ``(server, base_url)``, call ``server.shutdown()`` when done.

    Pages are rendered from :attr:`MedicalWorld.organizations`, so the bundle that is
    truncated in the file drop arrives intact here (its other faults, duplicates
    included, are served as delivered). ``next`` links carry the server's own base.
    With ``rendered_ahead`` (and a ``port``, which the links name) the pages of the
    default size are rendered before the server answers, as the camera platform's
    catalogue is: a benchmark on one machine then times the hub, not the simulator
    rendering JSON beside it (a platform's server is another machine).
    """
    default = max(1, world.config.bundle_size)
    where: dict[str, str] = {}
    ahead: dict[int, bytes] = {}
    if rendered_ahead:
        if not port:
            raise ValueError("rendered_ahead needs the port: the pages' next links name it")
        base = f"http://127.0.0.1:{port}/fhir"
        for offset in range(0, max(1, len(world.organizations)), default):
            ahead[offset] = render_bundle(world.organizations, offset, default, base)

    def organizations(query: dict[str, str]) -> tuple[int, bytes, str]:
        try:
            count, offset = int(query.get("_count", default)), int(query.get("_offset", 0))
            if count < 0 or offset < 0:
                raise ValueError
        except ValueError:
            outcome = {"resourceType": "OperationOutcome", "issue": [{
                "severity": "error", "code": "invalid",
                "diagnostics": "_count and _offset must be non-negative integers"}]}
            return 400, json.dumps(outcome).encode("utf-8"), FHIR_JSON
        page = ahead.get(offset) if count == default else None
        return 200, page or render_bundle(world.organizations, offset, count, where["base"]), FHIR_JSON

    server, url = serve_http({"/fhir/Organization": organizations}, port=port, fail_every=fail_every)
    where["base"] = f"{url}/fhir"
    return server, url
