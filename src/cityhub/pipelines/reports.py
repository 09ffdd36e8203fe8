"""Signed indicator reports: what the scoring layer and the province can verify, offline
and later, came from this city's hub unchanged (``docs/reports.md``).

A report is the stored values of one region and period in the standard's table shape
(``scoring.EXPORT_COLUMNS``: each with its definition version and hash and the snapshot
ids it read) plus, per value, the digest of its evidence (``证据摘要``): for every part
the value counted — its own numerator and denominator, or each component's of a
weighted mix; an alternate's, a whole-area figure's — the SHA-256 over every row the
evidence of that side returns (every page), one canonical JSON line per row. So the
digest pins exactly the rows counted: anyone who may read the evidence can recompute it.

The report is signed as a compact JWS (RFC 7515) with the JSON report attached as its
payload, ``alg: EdDSA`` (RFC 8037) with the hub's Ed25519 key (``report_keys``), ``kid``
its RFC 7638 thumbprint. ``verify`` checks it against a JWK Set.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import httpx

from cityhub.core import jose
from cityhub.core.errors import Conflict, InvalidRequest, NotAuthentic, NotFound, SourceError
from cityhub.core.time import now_cst
from cityhub.lake import Lake
from cityhub.pipelines import report_keys, scoring
from cityhub.pipelines.indicators.engine import latest
from cityhub.pipelines.indicators.evidence import every_row

FORMAT = "cityhub.indicator-report/1"
"""The payload's ``format``: what it holds and how its digests are made."""
CONTENT_TYPE = "cityhub-indicator-report+json"
"""The JWS header's ``cty`` (application/cityhub-indicator-report+json)."""
STANDARD = "DB37/T 3890.1"
DIGEST = "证据摘要"
"""The column each value's evidence digest is in, after the standard's columns."""
COLUMNS = [zh for zh, _ in scoring.EXPORT_COLUMNS] + [DIGEST]
_PERIOD = re.compile(r"^(\d{4}(-\d{2}){0,2}|now)$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
ATTEMPTS = 3
"""Tries when a value is recomputed while its report is being made."""


@dataclass(frozen=True)
class Signed:
    jws: str
    """The compact JWS: ``header.payload.signature``, the report attached."""
    kid: str
    report: dict


def canonical_row(row: dict) -> bytes:
    """One evidence row as its canonical line: the row as the evidence endpoint's JSON
    gives it (times ISO 8601, decimals as strings, NaN as null), keys sorted, no
    whitespace, UTF-8 (non-ASCII as is), then a newline. In Python, for a row read from
    that JSON: ``json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))``."""
    return (json.dumps(_as_json(row), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            + "\n").encode("utf-8")


def _as_json(v):
    if isinstance(v, dict):
        return {str(k): _as_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_as_json(x) for x in v]
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)  # Decimal and the rest, as the API writes them (orjson, default=str)


def value_digest(parts: list[dict]) -> str:
    """A value's digest over its parts' digests: SHA-256 over one line per part,
    ``<component>\\t<side>\\t<rows>\\t<sha256>\\n``, in the order listed."""
    lines = "".join(f"{p['component']}\t{p['side']}\t{p['rows']}\t{p['sha256']}\n" for p in parts)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def build(lake: Lake, region: str, period: str) -> dict:
    """The report of ``region`` over ``period`` (unsigned): the latest stored values with
    their evidence digests. Retried when a value is recomputed meanwhile."""
    c = lake.decl.city(lake.cfg.city)
    if region not in (c.code, *c.counties):
        raise InvalidRequest(f"region {region!r} is not {c.code} ({c.name}) or one of its counties: "
                             f"{', '.join(c.counties)}")
    if not isinstance(period, str) or not _PERIOD.match(period):
        raise InvalidRequest(f"period {period!r} is not YYYY-MM-DD, YYYY-MM, YYYY or now")
    for attempt in range(ATTEMPTS):
        try:
            return _build(lake, c, region, period)
        except _Recomputed as e:
            if attempt == ATTEMPTS - 1:
                raise Conflict(f"{e}; values of {region} over {period} keep being recomputed: try again") from None
    raise AssertionError("unreachable")  # pragma: no cover


class _Recomputed(Exception):
    """A value was recomputed between reading it and reading its evidence."""


def _build(lake: Lake, c, region: str, period: str) -> dict:
    values = latest(lake, region=region, period_label=period)
    if not values:
        raise NotFound(f"no stored indicator values for {region} over {period}: compute them first "
                       "(cityhub indicators compute)")
    rows = []
    for v in values:
        parts = json.loads(v["components"]) if v["components"] else []
        v = {**v, "inputs": json.loads(v["inputs"]), "computed_at": _as_json(v["computed_at"]),
             "components": [x for x in parts if x.get("kind") != "alternate"] or None,
             "alternates": [x for x in parts if x.get("kind") == "alternate"] or None}
        table = scoring.export_rows(lake.decl, [v])  # the value, then one row per alternate
        counted = [x["code"] for x in v["components"] or ()] or [v["code"]]
        plans = [counted] + [
            [f"{x}.whole" for x in counted] if a["code"] == f"{v['code']}.whole" and a["numerator"] is None
            else [a["code"]]  # a weighted mix's whole-area figure counts its components' whole areas
            for a in v["alternates"] or ()]
        wanted = list(dict.fromkeys((x, side) for plan in plans for x in plan for side in ("numerator", "denominator")))
        found = dict(zip(wanted, _digests(lake, v, region, period, wanted), strict=True))
        for row, plan in zip(table, plans, strict=True):
            parts = [found[x, side] for x in plan for side in ("numerator", "denominator")]
            rows.append({**row, DIGEST: {"sha256": value_digest(parts), "parts": parts}})
    return {"format": FORMAT, "standard": STANDARD, "city": c.code, "city_name": c.name,
            "region": region, "region_name": scoring.region_name(lake.decl, region), "period": period,
            "created_at": now_cst().isoformat(timespec="seconds"),
            "digest": "sha256 per part over its evidence rows' canonical JSON lines; per value over its parts' lines",
            "columns": COLUMNS, "rows": rows}


def _digests(lake: Lake, value: dict, region: str, period: str, wanted: list[tuple[str, str]]) -> list[dict]:
    """For each ``(component, side)`` of ``value``, the digest of every row its evidence
    returns: over all pages, in their order (read in one pass, on one connection)."""
    out = []
    with closing(every_row(lake, value["code"], region, period, wanted)) as parts:
        for ev, batches in parts:
            if ev["snapshot_ids"] != value["inputs"] or ev["definition_hash"] != value["definition_hash"]:
                raise _Recomputed(f"{value['code']} was recomputed after it was read")
            if not _same(ev["measured"], ev["stored"]):
                raise Conflict(f"the evidence of {ev['component']} ({ev['side']}) for {region} over {period} "
                               f"measures {ev['measured']}, its stored figure is {ev['stored']}: a report would not "
                               "pin the rows counted")
            h, n = hashlib.sha256(), 0
            for rows in batches:
                for r in rows:
                    h.update(canonical_row(r))
                n += len(rows)
            out.append({"component": ev["component"], "side": ev["side"], "rows": n, "sha256": h.hexdigest()})
    return out


def _same(measured, stored) -> bool:
    if stored is None:
        return False
    return math.isclose(float(measured or 0), float(stored), rel_tol=1e-9, abs_tol=1e-9)


def create(lake: Lake, region: str, period: str) -> Signed:
    """The report of ``region`` over ``period``, signed with the hub's key."""
    key = report_keys.signing_key(lake.cfg)  # a key that cannot sign fails before the work
    report = build(lake, region, period)
    payload = json.dumps(report, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return Signed(jose.sign(payload, key.key, {"kid": key.kid, "typ": "JOSE", "cty": CONTENT_TYPE}), key.kid, report)


def verify(jws: str, jwks: dict) -> tuple[dict, dict]:
    """The header and report of a signed report whose key is in ``jwks`` (a JWK Set),
    whose signature that key made, and whose values' digests are those of their parts;
    ``NotAuthentic`` naming what failed (malformed, unknown key, signature, payload digest)."""
    header, payload = jose.verify(jws, jwks)
    try:
        report = json.loads(payload)
    except ValueError:
        raise NotAuthentic("malformed", "the signed payload is not JSON") from None
    if not isinstance(report, dict) or report.get("format") != FORMAT or not isinstance(report.get("rows"), list):
        raise NotAuthentic("malformed", f"the signed payload is not a report of format {FORMAT}")
    for i, row in enumerate(report["rows"]):
        if not isinstance(row, dict):
            raise NotAuthentic("malformed", f"row {i} of the report is not an object")
        what = f"{row.get('指标编号')} for {row.get('区域代码')} over {row.get('统计周期')}"
        d = row.get(DIGEST)
        try:
            parts = d["parts"]
            ok = (bool(parts) and all(isinstance(p["rows"], int) and _HEX.match(p["sha256"]) for p in parts)
                  and value_digest(parts) == d["sha256"])
        except (KeyError, TypeError):
            ok = False
        if not ok:
            raise NotAuthentic("payload digest", f"the evidence digest of {what} is not the digest of its parts")
    return header, report


def summary(header: dict, report: dict) -> dict:
    """What a verified report says, in a few fields."""
    return {"kid": header.get("kid"), "city": report.get("city"), "region": report.get("region"),
            "region_name": report.get("region_name"), "period": report.get("period"),
            "created_at": report.get("created_at"), "values": len(report["rows"]),
            "evidence_rows": sum(p["rows"] for r in report["rows"] for p in r[DIGEST]["parts"])}


def jws_of(text: str) -> str:
    """The compact JWS in a report file: the JWS itself (``cityhub reports create --out``)
    or the JSON ``GET /v1/reports`` answers with (its ``jws``)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            text = json.loads(text)["jws"]
        except (ValueError, KeyError, TypeError):
            raise NotAuthentic("malformed", "a JSON report file needs the compact JWS in its \"jws\" member") from None
    return text


def load_jwks(source: str) -> dict:
    """A JWK Set from a file or an ``http(s)://`` URL (e.g. the hub's ``/.well-known/jwks.json``)."""
    try:
        if source.startswith(("http://", "https://")):
            r = httpx.get(source, timeout=30, follow_redirects=True)
            r.raise_for_status()
            text = r.text
        else:
            text = Path(source).read_text(encoding="utf-8")
        jwks = json.loads(text)
    except httpx.HTTPError as e:
        raise SourceError(f"the JWK Set at {source} could not be fetched: {e}") from None
    except OSError as e:
        raise InvalidRequest(f"the JWK Set {source}: {e.strerror or e}") from None
    except ValueError:
        raise InvalidRequest(f"the JWK Set {source} is not JSON") from None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise InvalidRequest(f"{source} is not a JWK Set (a JSON object with \"keys\")")
    return jwks
