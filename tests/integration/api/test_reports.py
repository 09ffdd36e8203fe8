"""Signed indicator reports over the API, in-process: ``GET /v1/reports`` for scoring,
admins and a county's own county (audited), the keys at ``/.well-known/jwks.json``
without a token, reports that verify against them before and after a key rotation, and
evidence digests a client recomputes from the evidence pages (``docs/reports.md``)."""
from __future__ import annotations

import json
import re

import httpx
import pytest

from cityhub.access import audit
from cityhub.core import jose
from cityhub.core.errors import NotAuthentic
from cityhub.pipelines import report_keys, reports
from cityhub.pipelines.indicators.engine import compute
from tests.conftest import REPO
from tests.integration.api.world import (
    CITY,
    DAY,
    DECHENG,
    QIHE,
    land_cameras,
    land_social_security,
)
from tests.support import assert_problem, auth, token

PERIOD = DAY.isoformat()
JWKS = "/.well-known/jwks.json"


@pytest.fixture
def tokens(lake, cfg, decl):
    land_cameras(lake, per_county=20, key_areas=4)
    land_social_security(lake, 300)
    compute(lake, DAY, kinds=("day",))
    return {"scoring": token(cfg, decl, "province-scoring", "scoring"),
            "admin": token(cfg, decl, "city-admin", "admin"),
            "qihe": token(cfg, decl, "qihe-app", "county", QIHE),
            "hrss": token(cfg, decl, "hrss-dept", "department", department="human_resources_social_security")}


def get_report(api, tok: str, region: str, period: str = PERIOD) -> dict:
    r = api.get("/v1/reports", headers=auth(tok), params={"region": region, "period": period})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_signed_report_verifies_with_the_published_keys(api, cfg, tokens):
    body = get_report(api, tokens["scoring"], CITY)
    assert set(body) == {"format", "region", "period", "kid", "alg", "jwks_uri", "jws"}
    assert (body["format"], body["region"], body["period"], body["alg"], body["jwks_uri"]) == (
        reports.FORMAT, CITY, PERIOD, "EdDSA", JWKS)
    r = api.get(JWKS)  # no token
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert "max-age" in r.headers["cache-control"]
    jwks = r.json()
    [key] = jwks["keys"]
    assert set(key) == {"kid", "kty", "crv", "x", "use", "alg"} and (key["kty"], key["crv"]) == ("OKP", "Ed25519")
    assert key["kid"] == body["kid"] == jose.thumbprint(key)
    header, report = reports.verify(body["jws"], jwks)
    assert header["kid"] == body["kid"] and report["region"] == CITY and report["period"] == PERIOD
    five = next(x for x in report["rows"] if x["指标编号"] == "5")
    values = api.get("/v1/indicators", headers=auth(tokens["scoring"]),
                     params={"region": CITY, "code": "5", "period": PERIOD}).json()["indicators"]
    assert (five["指标值"], five["分子"], five["分母"], five["数据快照"], five["定义哈希"]) == (
        values[0]["value"], values[0]["numerator"], values[0]["denominator"], values[0]["inputs"],
        values[0]["definition_hash"])
    # the JSON the API answers is a report file `cityhub reports verify` takes, as the JWS is
    assert reports.jws_of(json.dumps(body)) == body["jws"]
    # any byte changed in the payload fails
    head, payload, sig = body["jws"].split(".")
    changed = json.loads(jose.unb64u(payload))
    changed["rows"][0]["指标值"] = 1.0 if changed["rows"][0]["指标值"] != 1.0 else 0.5
    with pytest.raises(NotAuthentic, match="signature"):
        reports.verify(f"{head}.{jose.b64u(json.dumps(changed).encode())}.{sig}", jwks)


def test_a_client_recomputes_the_digests_from_the_evidence_pages(api, tokens, monkeypatch):
    """The second block of docs/reports.md, against this API: each part's digest is the
    digest of the rows the evidence endpoint serves for it, page by page."""
    doc = (REPO / "docs" / "reports.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", doc[doc.index("## Verify without the hub"):], re.S)
    namespace: dict = {}
    exec(blocks[1], namespace)  # noqa: S102 - the documented function, exactly as written
    base = "http://hub.example"
    monkeypatch.setattr(httpx, "get", lambda url, **kw: api.get(url.removeprefix(base), **kw))
    report = reports.verify(get_report(api, tokens["scoring"], CITY)["jws"], api.get(JWKS).json())[1]
    checked = 0
    for row in report["rows"]:
        if row["指标编号"] not in ("5", "5.whole", "4", "4.whole"):
            continue  # (#19's rows are social-security records: their evidence needs a grant)
        for p in row["证据摘要"]["parts"]:
            n, digest = namespace["part_digest"](base, tokens["scoring"], p["component"].split(".")[0], CITY, PERIOD,
                                                 p["side"], p["component"])
            assert (n, digest) == (p["rows"], p["sha256"]), p
            checked += n
    assert checked > 0


def test_who_may_have_a_report_and_the_audit_of_it(api, cfg, tokens):
    mine = get_report(api, tokens["qihe"], QIHE)
    assert reports.verify(mine["jws"], api.get(JWKS).json())[1]["region"] == QIHE
    assert get_report(api, tokens["admin"], DECHENG)["region"] == DECHENG
    assert_problem(api.get("/v1/reports", headers=auth(tokens["qihe"]), params={"region": CITY, "period": PERIOD}),
                   403, "371425")
    assert_problem(api.get("/v1/reports", headers=auth(tokens["hrss"]), params={"region": CITY, "period": PERIOD}),
                   403, "department")
    assert_problem(api.get("/v1/reports", params={"region": CITY, "period": PERIOD}), 401)
    assert_problem(api.get("/v1/reports", headers=auth(tokens["scoring"]), params={"region": CITY, "period": "2025"}),
                   404, "compute them first")
    assert_problem(api.get("/v1/reports", headers=auth(tokens["scoring"]), params={"region": "371500",
                                                                                   "period": PERIOD}), 400)
    assert_problem(api.get("/v1/reports", headers=auth(tokens["scoring"]), params={"region": CITY,
                                                                                   "period": "yesterday"}), 400)
    assert_problem(api.get("/v1/reports", headers=auth(tokens["scoring"]), params={"region": CITY}), 400, "period")
    entries = audit.search(cfg, action="reports")
    served = [(e["client_name"], e["filters"]["region"], e["status"]) for e in entries if e["status"] == 200]
    assert sorted(served) == [("city-admin", DECHENG, 200), ("qihe-app", QIHE, 200)]
    assert all(e["dataset"] == "indicator_values" and e["rows"] > 0 for e in entries if e["status"] == 200)
    assert all(e["filters"]["kid"] == mine["kid"] for e in entries if e["status"] == 200)
    refused = sorted((e["client_name"], e["status"]) for e in entries if e["status"] != 200)
    # every refusal with its status: the region outside the city, and the invalid and missing periods too
    assert refused == [("hrss-dept", 403), *[("province-scoring", 400)] * 3, ("province-scoring", 404),
                       ("qihe-app", 403)]


def test_after_a_key_rotation_old_reports_verify_and_new_ones_use_the_new_key(api, cfg, tokens):
    before = get_report(api, tokens["scoring"], CITY)
    old, new = report_keys.rotate(cfg)  # `cityhub reports rotate-key`
    assert old == before["kid"]
    jwks = api.get(JWKS).json()
    assert [k["kid"] for k in jwks["keys"]] == [new, old]
    assert reports.verify(before["jws"], jwks)[0]["kid"] == old
    after = get_report(api, tokens["scoring"], CITY)
    assert after["kid"] == new and reports.verify(after["jws"], jwks)[0]["kid"] == new
    assert json.loads(jose.unb64u(after["jws"].split(".")[0]))["kid"] == new


def test_the_spec_declares_the_report_and_the_open_jwks(api):
    spec = api.get("/openapi.json").json()
    report = spec["paths"]["/v1/reports"]["get"]
    assert {p["name"] for p in report["parameters"] if p["in"] == "query"} == {"region", "period"}
    assert all(p["required"] for p in report["parameters"] if p["in"] == "query")
    assert "200" in report["responses"] and report.get("security")
    jwks = spec["paths"][JWKS]["get"]
    assert "200" in jwks["responses"] and not jwks.get("security")
