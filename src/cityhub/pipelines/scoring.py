"""The scoring layer's view: star readiness against configurable thresholds, and
the indicator table in the standard's shape (CSV or JSON)."""
from __future__ import annotations

import csv
import io
import json

from cityhub.declarations import Declarations

EXPORT_COLUMNS = [("指标编号", "code"), ("指标名称", "name_zh"), ("指标名称(英文)", "name_en"), ("区域代码", "region"),
                  ("区域名称", "region_name"), ("统计周期", "period"), ("指标值", "value"), ("分子", "numerator"),
                  ("分母", "denominator"), ("无值原因", "reason"), ("统计口径", "scope"), ("定义版本", "definition_version"),
                  ("定义哈希", "definition_hash"),
                  ("数据快照", "inputs"), ("计算时间", "computed_at")]


def thresholds(decl: Declarations, code: str) -> dict[int, float]:
    return decl.thresholds.of(code) if decl.thresholds else {}


def region_name(decl: Declarations, region: str) -> str:
    c = decl.city_of(region)
    return c.name_of(region) if c else region


def readiness(decl: Declarations, values: list[dict], region: str) -> dict:
    """Each declared indicator's latest year-to-date value against its thresholds."""
    by_code: dict[str, dict] = {}
    for v in values:
        if len(v["period"]) == 4 and v["region"] == region:
            best = by_code.get(v["code"])
            if best is None or (v["period"], v["computed_at"]) > (best["period"], best["computed_at"]):
                by_code[v["code"]] = v
    rows, stars = [], []
    for code, ind in decl.indicators.items():
        if ind.scope == "city" and region not in decl.cities:
            continue  # a catalogue-level indicator has no county value
        v = by_code.get(code)
        t = thresholds(decl, code)
        value = v["value"] if v else None
        met = max((s for s, need in t.items() if value is not None and value >= need), default=0)
        stars.append(met)
        rows.append({"code": code, "name_zh": ind.name_zh, "name_en": ind.name_en, "period": v["period"] if v else None,
                     "value": value, "reason": (v or {}).get("reason") or (None if v else "not computed yet"),
                     "thresholds": t, "stars_met": met})
    return {"region": region, "region_name": region_name(decl, region),
            "thresholds_source": decl.thresholds.source if decl.thresholds else None,
            "stars_met_by_all": min(stars) if stars else 0, "indicators": rows}


def export_rows(decl: Declarations, values: list[dict]) -> list[dict]:
    inds = decl.indicators
    out = []
    for v in values:
        ind = inds.get(v["code"])
        row = {**v, "name_zh": v.get("name_zh") or (ind.name_zh if ind else ""),
               "name_en": ind.name_en if ind else v["name"],
               "region_name": region_name(decl, v["region"])}
        out.append({zh: row.get(key) for zh, key in EXPORT_COLUMNS})
        for alt in v.get("alternates") or ():  # e.g. 27.effective beside the nominal 27
            out.append({zh: {**row, "code": alt["code"], "name_en": alt["name"], "value": alt["value"],
                             "name_zh": alt.get("name_zh") or row["name_zh"], "scope": alt.get("scope", row["scope"]),
                             "numerator": alt["numerator"], "denominator": alt["denominator"],
                             "reason": alt["reason"]}.get(key) for zh, key in EXPORT_COLUMNS})
    return out


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[zh for zh, _ in EXPORT_COLUMNS], lineterminator="\r\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (json.dumps(v) if isinstance(v, dict) else ("" if v is None else v)) for k, v in r.items()})
    return buf.getvalue()
