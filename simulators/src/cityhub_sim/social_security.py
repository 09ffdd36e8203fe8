"""Simulator of the human-resources and social-security bureau's business records.

No real bureau system can be reached, so this module produces the feed the
connector is written against: one CSV file per day as exported from office
software (Excel "CSV": GB18030, CRLF line ends, Chinese headers, values quoted
only when needed), with the faults real exports have.

Everything is deterministic by ``(city, seed)`` for the world's structure (which
days carry the file-level faults, which county has not connected which
cross-region service to the ministry/province link) and by ``(city, seed, day)``
for the day's records. A day is generated in two stages: a cheap skeleton
(business type, channel, county, time, hence the serial numbers) and then the
person's details. :func:`generate` only needs the skeletons to list every injected
fault in :attr:`SocialSecurityWorld.faults`; :func:`day_rows` rebuilds a day on
demand, so a month of records never sits in memory.
"""
from __future__ import annotations

import csv
import io
import json
import random
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from cityhub.declarations.regions import City
from cityhub_sim.common import cities
from cityhub_sim.common import city as get_city
from cityhub_sim.common import write_atomic, unknown_county_code

# --------------------------------------------------------------------------- config


@dataclass
class SocialSecurityConfig:
    city: str = "371400"
    declarations: Path | None = None
    """Where the city is declared (default: the declarations installed with the hub)."""
    seed: int = 1
    start: date = date(2026, 11, 1)
    days: int = 22
    records_per_day: int = 12000  # distinct business records a day (duplicates come on top)
    fault_rate: float = 0.02      # share of records carrying one record-level fault


@dataclass
class SocialSecurityWorld:
    config: SocialSecurityConfig
    faults: list[dict] = field(default_factory=list)
    # The day whose export has the extra column ``经办人`` and the day whose file arrives damaged
    # (a byte neither GB18030 nor UTF-8 has: a UTF-8 export is read as such, not refused).
    drift_day: date | None = None
    wrong_encoding_day: date | None = None
    # county -> cross-region services it has not connected to the ministry/province
    # link: handled at the counter only, never flagged 异地办理 (indicator #19's gap).
    offline_services: dict[str, list[str]] = field(default_factory=dict)
    staff: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @property
    def days(self) -> list[date]:
        return [self.config.start + timedelta(days=i) for i in range(self.config.days)]


COLUMNS = ["业务流水号", "业务类型代码", "业务类型名称", "办理渠道", "行政区划代码", "异地办理标志",
           "办理状态", "受理时间", "办结时间", "公民身份号码", "姓名", "联系电话"]
DRIFT_COLUMN = "经办人"
ENCODING = "gb18030"

RECORD_FAULTS = ("bad_id_check", "bad_id_birthdate", "unknown_business_type", "unknown_region",
                 "end_before_start", "duplicate_serial", "missing_status")
FILE_FAULTS = ("extra_column", "wrong_encoding")
EXPECT = {**{k: "quarantine" for k in RECORD_FAULTS}, "extra_column": "drift", "wrong_encoding": "quarantine"}
UNKNOWN_TYPE = ("XX_UNKNOWN", "其他业务")

# ------------------------------------------------------------------ vocabulary

# Indicator #19's four services, in the standard's order.
CROSS_REGION: tuple[str, ...] = ("SI_TRANSFER", "PENSION_QUALIFICATION", "MEDICAL_SETTLEMENT", "PENSION_STATUS_QUERY")
BUSINESS_TYPES: dict[str, str] = {
    "SI_TRANSFER": "社会保险关系转移接续",
    "PENSION_QUALIFICATION": "异地居住退休人员领取待遇资格认证",
    "MEDICAL_SETTLEMENT": "跨省异地就医结算备案",
    "PENSION_STATUS_QUERY": "养老保险待遇状态比对查询",
    "SSC_APPLY": "社保卡申领",
    "ENROL": "参保登记",
    "CONTRIB_BASE": "缴费基数申报",
    "UNEMPLOYMENT": "失业保险金申领",
    "INJURY": "工伤认定",
    "RECORD_QUERY": "个人权益记录查询",
    "FLEXIBLE_ENROL": "灵活就业人员参保",
    "MATERNITY": "生育津贴申领",
}
CHANNELS = ("窗口", "网上", "手机APP", "自助终端")
COUNTER, WEB, APP, SELF = range(4)

# code: (share of records in %, channel weights counter/web/app/self-service,
#        (min age, max age), status weights 已受理/已办结/已退回).
# The cross-region shares add up to 15%; they are mostly handled on the web or the app.
_TYPES = {
    "SI_TRANSFER":           (5, (20, 45, 30, 5), (22, 58), (40, 55, 5)),
    "PENSION_QUALIFICATION": (4, (10, 15, 65, 10), (58, 90), (3, 95, 2)),
    "MEDICAL_SETTLEMENT":    (4, (15, 30, 50, 5), (25, 90), (8, 89, 3)),
    "PENSION_STATUS_QUERY":  (2, (5, 50, 40, 5), (58, 90), (1, 98, 1)),
    "SSC_APPLY":             (16, (45, 10, 20, 25), (18, 90), (12, 85, 3)),
    "ENROL":                 (10, (50, 30, 15, 5), (18, 55), (8, 88, 4)),
    "CONTRIB_BASE":          (12, (30, 60, 5, 5), (22, 60), (6, 90, 4)),
    "UNEMPLOYMENT":          (8, (35, 25, 35, 5), (20, 58), (20, 72, 8)),
    "INJURY":                (2, (85, 15, 0, 0), (20, 60), (80, 10, 10)),
    "RECORD_QUERY":          (20, (10, 25, 45, 20), (22, 75), (1, 98, 1)),
    "FLEXIBLE_ENROL":        (9, (35, 20, 40, 5), (20, 58), (8, 88, 4)),
    "MATERNITY":             (8, (40, 30, 25, 5), (22, 42), (25, 68, 7)),
}
STATUSES = ("已受理", "已办结", "已退回")
INSTANT = {"PENSION_STATUS_QUERY", "RECORD_QUERY"}  # answered by the system in seconds
# Chance that a cross-region record goes through the ministry/province link, by channel.
REMOTE_SHARE = (0.55, 0.95, 0.95, 0.70)
WEEKEND_COUNTER_OPEN = 0.2  # weekend duty window (周末不打烊): most counter business moves online

# Half-hour slots of the day (0 = 00:00-00:30) and their weights, per channel.
_WEB_HOURS = (3, 2, 1, 1, 1, 2, 4, 8, 12, 14, 14, 12, 9, 10, 12, 12, 11, 10, 10, 12, 13, 11, 8, 5)
_SLOTS = {
    COUNTER: {**dict.fromkeys(range(17, 24), 10), 18: 13, 19: 14, 20: 13, **dict.fromkeys(range(27, 35), 8)},
    WEB: {s: _WEB_HOURS[s // 2] for s in range(48)},
    APP: {s: _WEB_HOURS[s // 2] + (3 if 38 <= s <= 45 else 0) for s in range(48)},  # evenings on the phone
    SELF: {s: (10 if 16 <= s <= 35 else 4) for s in range(14, 42)},                # 07:00-21:00 halls
}
_WEEKEND_COUNTER = dict.fromkeys(range(18, 24), 10)  # 09:00-12:00

SURNAMES = (("王", 90), ("张", 80), ("李", 75), ("刘", 60), ("孙", 30), ("杨", 25), ("赵", 25), ("陈", 22),
            ("马", 18), ("高", 16), ("徐", 15), ("田", 14), ("郭", 14), ("周", 12), ("吴", 12), ("于", 12),
            ("宋", 11), ("朱", 10), ("魏", 10), ("崔", 10), ("任", 9), ("韩", 9), ("董", 9), ("曹", 8),
            ("胡", 8), ("贾", 8), ("袁", 7), ("邢", 7), ("付", 7), ("许", 7), ("冯", 7), ("程", 6),
            ("黄", 6), ("姜", 6), ("林", 6), ("何", 6), ("郑", 6), ("谢", 5), ("梁", 5), ("吕", 5),
            ("丁", 5), ("范", 5), ("苏", 5), ("蔡", 4), ("石", 4), ("潘", 4), ("杜", 4), ("秦", 4),
            ("侯", 4), ("薛", 4), ("闫", 4), ("邵", 3), ("葛", 3), ("孟", 3), ("路", 3), ("庞", 3),
            ("牛", 3), ("鲁", 3), ("常", 3), ("尹", 3), ("欧阳", 1), ("司马", 1))
GIVEN = {
    "M": "伟强磊军勇杰涛斌超明刚鹏辉华亮飞波宁浩凯俊峰建国志文东龙海林新成庆利振兴永宏旭晨宇航泽轩博睿",
    "F": "芳娜敏静丽艳娟霞燕玲秀英红梅琳莉颖倩婷雪慧丹萍洁蕾琪晶欣怡悦佳雅璐菲桂兰凤玉华春",
}
# Names common in older generations, given whole.
CLASSIC = {"M": ("建国", "建华", "国强", "卫东", "志刚", "红军", "德福", "长青", "振华", "保国", "文革"),
           "F": ("秀英", "桂兰", "玉兰", "凤英", "淑珍", "秀兰", "桂英", "玉珍", "秀珍", "翠花", "兰英")}
MOBILE_PREFIXES = ("134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158", "159",
                   "172", "178", "182", "183", "184", "187", "188", "195", "198", "130", "131", "132", "155",
                   "156", "166", "175", "176", "185", "186", "133", "153", "173", "177", "180", "181", "189",
                   "191", "199")
# A few Shandong county codes outside the declared cities: people born elsewhere in the province.
_OTHER_SHANDONG = ("370102", "370103", "370112", "370202", "370212", "370302", "370303", "370702", "370781",
                   "371302", "371321", "370829", "370921")

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def id_check_char(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError(f"need 17 digits, got {first17!r}")
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


def _wsum(digits: str, offset: int) -> int:
    return sum(int(d) * w for d, w in zip(digits, ID_WEIGHTS[offset:]))


def _table(values, weights) -> tuple:
    """Expand integer weights into a lookup table: one ``random()`` per weighted pick (fast)."""
    return tuple(v for v, w in zip(values, weights) for _ in range(w))


TYPE_CODES = tuple(_TYPES)
TYPE_TABLE = _table(range(len(TYPE_CODES)), [t[0] for t in _TYPES.values()])
CHANNEL_TABLES = tuple(_table(range(4), t[1]) for t in _TYPES.values())
# Where a type's counter business goes when the counter is closed: its busier online channel.
ONLINE_ALT = tuple(WEB if t[1][WEB] >= t[1][APP] else APP for t in _TYPES.values())
STATUS_TABLES = tuple(_table(STATUSES, t[3]) for t in _TYPES.values())
SLOT_TABLES = {ch: _table(list(w), list(w.values())) for ch, w in _SLOTS.items()}
WEEKEND_COUNTER_TABLE = _table(list(_WEEKEND_COUNTER), list(_WEEKEND_COUNTER.values()))
SURNAME_TABLE = _table(*zip(*SURNAMES))
CROSS_IDX = frozenset(TYPE_CODES.index(c) for c in CROSS_REGION)


def _county_table(c: City) -> tuple:
    """Districts are busier than counties; crc32 jitter keeps the weights seed-independent."""
    weights = [(16 if name.endswith("区") else 10) * (70 + zlib.crc32(code.encode()) % 61) // 100
               for code, name in c.counties.items()]
    return _table(list(c.counties), weights)




def file_name(cfg: SocialSecurityConfig, day: date) -> str:
    return f"ss_records_{cfg.city}_{day:%Y%m%d}.csv"


# ------------------------------------------------------------------ the world


def generate(cfg: SocialSecurityConfig) -> SocialSecurityWorld:
    """The world for ``cfg`` and the manifest of every fault it injects.

    Record faults: with ``fault_rate > 0`` each class occurs at least once a day
    (given enough records), then a ``fault_rate`` share of the records carries one,
    classes equally likely. File faults need a day other than the first: the
    extra column with 2+ days, the UTF-8 file with 3+ days. The UTF-8 day carries
    no record faults, since the whole file is quarantined.
    """
    c = get_city(cfg.city, cfg.declarations)
    rng = random.Random(f"social_security/{c.code}/{cfg.seed}")
    world = SocialSecurityWorld(config=cfg)
    counties = list(c.counties)
    if len(counties) >= 2:
        world.offline_services = {rng.choice(counties): [rng.choice(CROSS_REGION)]}
    world.staff = {k: [_name(rng, rng.choice("MF"), 1980) for _ in range(6)] for k in counties}
    if cfg.fault_rate > 0:
        later = world.days[1:]
        picked = rng.sample(later, min(2, len(later)))
        world.drift_day = picked[0] if picked else None
        world.wrong_encoding_day = picked[1] if len(picked) > 1 else None
    for day in world.days:
        serials = _skeleton(world, c, day)[4]
        for i, kind, _ in _fault_plan(world, day, len(serials)):
            world.faults.append({"source": "records", "kind": kind, "key": serials[i], "expect": EXPECT[kind]})
    for day, kind in ((world.drift_day, "extra_column"), (world.wrong_encoding_day, "wrong_encoding")):
        if day is not None:
            world.faults.append({"source": "records", "kind": kind, "key": file_name(cfg, day), "expect": EXPECT[kind]})
    return world


def _day_rng(world: SocialSecurityWorld, day: date, stage: str) -> random.Random:
    return random.Random(f"social_security/{world.config.city}/{world.config.seed}/{day.isoformat()}/{stage}")


def _skeleton(world: SocialSecurityWorld, c: City, day: date) -> tuple[list, list, list, list, list]:
    """The day's records in acceptance order: type index, channel, county, second, serial.

    Cheap on purpose (no personal data): :func:`generate` runs it for every day.
    """
    rng = _day_rng(world, day, "skeleton")
    r = rng.random
    n = max(0, world.config.records_per_day)
    county_table = _county_table(c)
    offline = {(k, TYPE_CODES.index(s)) for k, ss in world.offline_services.items() for s in ss}
    weekend = day.weekday() >= 5
    recs = []
    for i in range(n):
        t = TYPE_TABLE[int(r() * len(TYPE_TABLE))]
        table = CHANNEL_TABLES[t]
        ch = table[int(r() * len(table))]
        county = county_table[int(r() * len(county_table))]
        if (county, t) in offline:
            ch = COUNTER
        if ch == COUNTER and weekend:
            if r() < WEEKEND_COUNTER_OPEN or (county, t) in offline:
                slots = WEEKEND_COUNTER_TABLE
            else:
                ch = ONLINE_ALT[t]
                slots = SLOT_TABLES[ch]
        else:
            slots = SLOT_TABLES[ch]
        sec = slots[int(r() * len(slots))] * 1800 + int(r() * 1800)
        recs.append((sec, i, t, ch, county))
    recs.sort()
    stamp = f"{day:%Y%m%d}"
    seq = dict.fromkeys(c.counties, 0)
    serials = []
    for rec in recs:
        seq[rec[4]] += 1
        serials.append(f"SB{rec[4]}{stamp}{seq[rec[4]]:07d}")
    return [x[2] for x in recs], [x[3] for x in recs], [x[4] for x in recs], [x[0] for x in recs], serials


def _fault_plan(world: SocialSecurityWorld, day: date, n: int) -> list[tuple[int, str, int]]:
    """``(record index, kind, insert-after index)`` for the day, in record order.

    The insert-after index only matters for duplicates: the copy is re-exported
    a few hundred rows later.
    """
    rate = world.config.fault_rate
    if rate <= 0 or n == 0 or day == world.wrong_encoding_day:
        return []
    rng = _day_rng(world, day, "faults")
    kinds: dict[int, str] = {}
    for kind in RECORD_FAULTS:  # one of each class first (tests rely on every class occurring)
        for _ in range(50):
            i = rng.randrange(n)
            if i not in kinds:
                kinds[i] = kind
                break
    r = rng.random
    nk = len(RECORD_FAULTS)
    for i in range(n):
        u = r()
        if u < rate and i not in kinds:
            kinds[i] = RECORD_FAULTS[int(u / rate * nk)]
    return [(i, k, min(n - 1, i + rng.randint(1, 300)) if k == "duplicate_serial" else i)
            for i, k in sorted(kinds.items())]


# ------------------------------------------------------------------ the day's records


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _name(rng: random.Random, sex: str, birth_year: int) -> str:
    r = rng.random
    surname = SURNAME_TABLE[int(r() * len(SURNAME_TABLE))]
    if birth_year < 1970 and r() < 0.3:
        classic = CLASSIC[sex]
        return surname + classic[int(r() * len(classic))]
    pool = GIVEN[sex]
    given = pool[int(r() * len(pool))]
    if r() < 0.7:
        second = pool[int(r() * len(pool))]
        given += second if second != given else pool[(pool.index(given) + 1) % len(pool)]
    return surname + given


def _fmt(day: date, sec: int) -> str:
    if 0 <= sec < 86_400:
        return f"{day:%Y-%m-%d} {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
    return (datetime.combine(day, datetime.min.time()) + timedelta(seconds=sec)).strftime("%Y-%m-%d %H:%M:%S")


def day_rows(world: SocialSecurityWorld, day: date) -> list[dict]:
    """The day's export rows (faults included), keyed by the Chinese column names.

    On the drift day each row also has ``经办人``.
    """
    cfg = world.config
    if not 0 <= (day - cfg.start).days < cfg.days:
        raise ValueError(f"{day} is outside the simulated period {cfg.start} + {cfg.days} days")
    c = get_city(cfg.city, cfg.declarations)
    types, channels, counties, secs, serials = _skeleton(world, c, day)
    rng = _day_rng(world, day, "details")
    r = rng.random
    offline = {(k, s) for k, ss in world.offline_services.items() for s in ss}

    # Where people's IDs were issued: mostly the county itself, else the city or the province.
    same_city = list(c.counties)
    province = sorted({k for other in cities(cfg.declarations).values() for k in other.counties} | set(_OTHER_SHANDONG))
    region_sum: dict[str, int] = {}
    birth_cache: dict[int, tuple[str, int]] = {}
    bands = {}
    for code, spec in _TYPES.items():
        lo, hi = spec[2]
        first = _years_before(day, hi + 1).toordinal() + 1
        bands[code] = (first, _years_before(day, lo).toordinal() - first + 1)
    parity = {"M": "13579", "F": "02468"}
    seq_w = ID_WEIGHTS[14:17]
    date_s = f"{day:%Y-%m-%d} "

    rows: list[dict] = []
    for t, ch, county, sec, serial in zip(types, channels, counties, secs, serials):
        code = TYPE_CODES[t]
        # --- the person
        sex = "F" if code == "MATERNITY" or r() < 0.5 else "M"
        u = r()
        region = county if u < 0.8 else (same_city[int(r() * len(same_city))] if u < 0.93
                                         else province[int(r() * len(province))])
        rs = region_sum.get(region)
        if rs is None:
            rs = region_sum[region] = _wsum(region, 0)
        first, span = bands[code]
        birth_ord = first + int(r() * span)
        birth = birth_cache.get(birth_ord)
        if birth is None:
            b = date.fromordinal(birth_ord).strftime("%Y%m%d")
            birth = birth_cache[birth_ord] = (b, _wsum(b, 6))
        hi2 = int(r() * 100)
        last = parity[sex][int(r() * 5)]
        if hi2 == 0 and last == "0":
            last = "2"
        s = rs + birth[1] + (hi2 // 10) * seq_w[0] + (hi2 % 10) * seq_w[1] + int(last) * seq_w[2]
        id_no = f"{region}{birth[0]}{hi2:02d}{last}{ID_CHECK[s % 11]}"
        name = _name(rng, sex, int(birth[0][:4]))
        phone = MOBILE_PREFIXES[int(r() * len(MOBILE_PREFIXES))] + f"{int(r() * 100_000_000):08d}"
        # --- the business
        remote = "是" if t in CROSS_IDX and (county, code) not in offline and r() < REMOTE_SHARE[ch] else "否"
        table = STATUS_TABLES[t]
        status = table[int(r() * len(table))]
        end = ""
        if status == "已办结":
            if code in INSTANT:
                took = 1 + int(r() * 60)
            elif ch == COUNTER:
                took = 180 + int(r() * 2400)
            else:
                took = 60 + int(r() * 7200)
            if sec + took < 86_400:
                end = _fmt(day, sec + took)
            else:  # not done before the export: still open
                status = "已受理"
        rows.append({
            "业务流水号": serial, "业务类型代码": code, "业务类型名称": BUSINESS_TYPES[code],
            "办理渠道": CHANNELS[ch], "行政区划代码": county, "异地办理标志": remote, "办理状态": status,
            "受理时间": f"{date_s}{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}", "办结时间": end,
            "公民身份号码": id_no, "姓名": name, "联系电话": phone,
        })

    if day == world.drift_day:
        staff = world.staff
        for row, ch in zip(rows, channels):
            row[DRIFT_COLUMN] = rng.choice(staff[row["行政区划代码"]]) if ch == COUNTER else ""
    _apply_faults(world, c, day, rows, secs)
    return rows


def _apply_faults(world: SocialSecurityWorld, c: City, day: date, rows: list[dict], secs: list[int]) -> None:
    """Garble the planned records in place; duplicates are inserted as extra rows."""
    plan = _fault_plan(world, day, len(rows))
    if not plan:
        return
    rng = _day_rng(world, day, "mutations")
    unknown = unknown_county_code(c)
    inserts: dict[int, list[dict]] = {}
    for i, kind, after in plan:
        row = rows[i]
        if kind == "bad_id_check":
            good = row["公民身份号码"]
            row["公民身份号码"] = good[:17] + rng.choice([x for x in "0123456789X" if x != good[17]])
        elif kind == "bad_id_birthdate":
            old = row["公民身份号码"]
            y = old[6:10]
            bad = rng.choice((f"{y}{rng.randint(13, 19)}{rng.randint(1, 28):02d}",
                              f"{y}00{rng.randint(1, 28):02d}",
                              f"{y}{rng.randint(1, 12):02d}{rng.randint(32, 39)}",
                              f"{y}{rng.randint(1, 12):02d}00", f"{y}0230", f"{y}0431", f"{y}1131"))
            first17 = old[:6] + bad + old[14:17]
            row["公民身份号码"] = first17 + id_check_char(first17)  # only the date is wrong
        elif kind == "unknown_business_type":
            row["业务类型代码"], row["业务类型名称"] = UNKNOWN_TYPE
        elif kind == "unknown_region":
            row["行政区划代码"] = unknown
        elif kind == "end_before_start":
            row["办理状态"] = "已办结"
            row["办结时间"] = _fmt(day, secs[i] - rng.randint(60, 3 * 3600))
        elif kind == "missing_status":
            row["办理状态"] = ""
        elif kind == "duplicate_serial":
            inserts.setdefault(after, []).append(dict(row))
    for after in sorted(inserts, reverse=True):
        rows[after + 1:after + 1] = inserts[after]


# ------------------------------------------------------------------ delivery


def csv_bytes(rows: list[dict], encoding: str = ENCODING) -> bytes:
    """Rows as Excel exports them: CRLF, minimal quoting, no BOM."""
    fields = COLUMNS + ([DRIFT_COLUMN] if rows and DRIFT_COLUMN in rows[0] else [])
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def write_drop(world: SocialSecurityWorld, drop_root: Path, days: list[date] | None = None) -> dict[str, list[Path]]:
    """Write one file per day (all the world's days by default) and the world's
    whole fault manifest into the drop folders the connector watches."""
    cfg = world.config
    base = Path(drop_root) / "social_security"
    out: dict[str, list[Path]] = {"records": []}
    for day in world.days if days is None else days:
        data = csv_bytes(day_rows(world, day), ENCODING)
        if day == world.wrong_encoding_day:
            data = data.replace(b"\r\n", b"\r\n\xff", 1)  # 0xFF starts no GB18030 or UTF-8 character
        out["records"].append(write_atomic(base / "records" / file_name(cfg, day), data))
    end = cfg.start + timedelta(days=max(cfg.days, 1) - 1)
    manifest = json.dumps(world.faults, ensure_ascii=False, indent=1).encode("utf-8")
    out["faults"] = [write_atomic(base / f"faults_{cfg.city}_{cfg.start:%Y%m%d}_{end:%Y%m%d}.json", manifest)]
    return out
