"""Signed indicator reports (``pipelines/reports.py``) over a Dezhou day landed by the real
connectors (the simulators' camera and social-security deliveries): a report verifies
offline, with the keys alone; each kind of tampering is detected and named; key rotation
keeps old reports verifiable; the documented snippet (``docs/reports.md``) verifies with
``cryptography`` alone."""
from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cityhub.core import jose
from cityhub.core.errors import ConfigurationError, InvalidRequest, NotAuthentic, NotFound
from cityhub.core.settings import Settings
from cityhub.lake import Lake
from cityhub.pipelines import report_keys, reports
from cityhub.pipelines.indicators.engine import compute, latest
from cityhub.pipelines.indicators.evidence import every_row, evidence
from tests.conftest import REPO
from tests.integration.api.world import CITY, DAY, DECHENG, QIHE, land_cameras, land_social_security

PERIOD = DAY.isoformat()


@pytest.fixture(scope="module")
def world(tmp_path_factory, decl):
    """One Dezhou day landed by the connectors and computed, shared by the module's tests
    (each test signs with keys of its own: ``lake``)."""
    home = tmp_path_factory.mktemp("reports") / "hub"
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("CITYHUB_")]:
            mp.delenv(var)
        mp.setenv("CITYHUB_HOME", str(home))
        lake = Lake(Settings(), decl)
        land_cameras(lake)
        land_social_security(lake, 400)
        compute(lake, DAY)
        yield lake


@pytest.fixture
def lake(world, tmp_path) -> Lake:
    """The module's lake, with a hub home of the test's own for the signing keys."""
    return Lake(world.cfg.model_copy(update={"home": tmp_path / "home"}), world.decl)


def payload_of(jws: str) -> dict:
    return json.loads(jose.unb64u(jws.split(".")[1]))


def with_payload(jws: str, report: dict) -> str:
    """``jws`` with its payload replaced and its header and signature kept."""
    header, _, signature = jws.split(".")
    body = json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode()
    return f"{header}.{jose.b64u(body)}.{signature}"


def failed(jws: str, jwks: dict) -> str:
    with pytest.raises(NotAuthentic) as e:
        reports.verify(jws, jwks)
    return e.value.failed


def row(report: dict, code: str) -> dict:
    return next(r for r in report["rows"] if r["指标编号"] == code)


def test_a_dezhou_report_verifies_offline_and_its_digests_pin_the_counted_rows(lake, tmp_path):
    signed = reports.create(lake, CITY, PERIOD)
    assert signed.kid == report_keys.signing_key(lake.cfg).kid
    # offline: the JWK Set as a file, nothing else
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(report_keys.jwks(lake.cfg)), encoding="utf-8")
    header, report = reports.verify(signed.jws, reports.load_jwks(str(jwks_file)))
    assert header == {"alg": "EdDSA", "kid": signed.kid, "typ": "JOSE", "cty": reports.CONTENT_TYPE}
    assert report == signed.report and report["format"] == reports.FORMAT
    assert (report["city"], report["region"], report["region_name"], report["period"]) == (CITY, CITY, "德州市", PERIOD)
    assert report["columns"][-1] == "证据摘要" and all(list(r) == report["columns"] for r in report["rows"])

    # every stored value and each of its alternates, with its definition and snapshots
    stored = latest(lake, region=CITY, period_label=PERIOD)
    expected = []
    for v in stored:
        expected += [v["code"]] + [x["code"] for x in json.loads(v["components"] or "[]") if x["kind"] == "alternate"]
    assert [r["指标编号"] for r in report["rows"]] == expected
    assert {"4", "4.whole", "4.1.whole", "5", "5.whole", "19", "19.whole", "27", "27.effective"} <= set(expected)
    for v in stored:
        r = row(report, v["code"])
        assert (r["指标值"], r["分子"], r["分母"]) == (v["value"], v["numerator"], v["denominator"])
        assert (r["定义版本"], r["定义哈希"]) == (v["definition_version"], v["definition_hash"]) and r["定义哈希"]
        assert r["数据快照"] == json.loads(v["inputs"]) and r["统计口径"] == v["scope"]

    # a count's parts number its stored figures; a weighted mix's are its components'
    five = row(report, "5")
    assert [(p["component"], p["side"], p["rows"]) for p in five["证据摘要"]["parts"]] == [
        ("5", "numerator", five["分子"]), ("5", "denominator", five["分母"])]
    assert five["分母"] > 0 and row(report, "19")["分母"] > 0
    assert [(p["component"], p["side"]) for p in row(report, "4")["证据摘要"]["parts"]] == [
        ("4.1", "numerator"), ("4.1", "denominator"), ("4.2", "numerator"), ("4.2", "denominator")]
    assert [p["component"] for p in row(report, "4.whole")["证据摘要"]["parts"]][::2] == ["4.1.whole", "4.2.whole"]
    assert [p["component"] for p in row(report, "27.effective")["证据摘要"]["parts"]] == ["27.effective"] * 2

    # each part's digest is the digest of the evidence pages (here 97 rows a page), row by row
    for code in ("4", "4.whole", "5", "5.whole", "19", "27.effective"):
        for p in row(report, code)["证据摘要"]["parts"]:
            rows, cursor = [], None
            while True:
                page = evidence(lake, p["component"].split(".")[0], CITY, PERIOD, p["side"], p["component"], 97,
                                cursor)
                rows += page["rows"]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            # the one-pass read the report makes gives these rows, in this order, whatever its batches
            with closing(every_row(lake, p["component"].split(".")[0], CITY, PERIOD, [(p["component"], p["side"])],
                                   batch_rows=13)) as parts:
                [(head, batches)] = [(h, [r for b in bs for r in b]) for h, bs in parts]
            assert batches == rows and head["rows_total"] == len(rows)
            as_served = json.loads(orjson.dumps(rows, default=str))  # as the evidence endpoint writes them
            lines = b"".join((json.dumps(r, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
                             for r in as_served)
            assert p["rows"] == len(rows) and p["sha256"] == hashlib.sha256(lines).hexdigest(), p
    # the city's value counts its main urban area only: 德城区's rows
    county = reports.create(lake, DECHENG, PERIOD).report
    assert row(county, "5")["证据摘要"]["parts"] == five["证据摘要"]["parts"]


def test_each_kind_of_tampering_is_detected_and_named(lake):
    jwks = report_keys.jwks(lake.cfg)
    signed = reports.create(lake, CITY, PERIOD)
    assert reports.verify(signed.jws, jwks)

    def changed(edit) -> str:
        report = payload_of(signed.jws)
        edit(report)
        assert report != signed.report
        return with_payload(signed.jws, report)

    # a changed value
    assert failed(changed(lambda r: row(r, "5").update({"指标值": 0.99})), jwks) == "signature"
    # a changed evidence digest, of a part or of a value
    assert failed(changed(lambda r: row(r, "5")["证据摘要"]["parts"][0].update(sha256="0" * 64)), jwks) == "signature"
    assert failed(changed(lambda r: row(r, "19")["证据摘要"].update(sha256="f" * 64)), jwks) == "signature"
    # a changed snapshot id
    assert failed(changed(lambda r: row(r, "5")["数据快照"].update(
        camera_catalog=row(r, "5")["数据快照"]["camera_catalog"] + 1)), jwks) == "signature"
    # a payload swapped between two reports: the city's signature over the county's report
    other = reports.create(lake, QIHE, PERIOD)
    assert reports.verify(other.jws, jwks)
    assert failed(with_payload(signed.jws, other.report), jwks) == "signature"
    # a signature from another key: under the hub's kid, or under its own (unpublished) one
    stranger = Ed25519PrivateKey.generate()
    body = json.dumps(signed.report, ensure_ascii=False).encode()
    assert failed(jose.sign(body, stranger, {"kid": signed.kid}), jwks) == "signature"
    own = jose.thumbprint(jose.public_jwk(stranger.public_key()))
    assert failed(jose.sign(body, stranger, {"kid": own}), jwks) == "unknown key"
    assert failed(jose.sign(body, stranger), jwks) == "unknown key"  # no kid at all
    # a report signed by the hub's key whose value digest is not its parts' digest
    bad = payload_of(signed.jws)
    row(bad, "5")["证据摘要"]["parts"][1]["rows"] += 1
    key = report_keys.signing_key(lake.cfg)
    assert failed(jose.sign(json.dumps(bad).encode(), key.key, {"kid": key.kid}), jwks) == "payload digest"
    # not a report at all
    assert failed("a.b", jwks) == "malformed"
    assert failed(signed.jws.replace(".", "!", 1), jwks) == "malformed"
    none = jose.b64u(json.dumps({"alg": "none", "kid": signed.kid}).encode())
    assert failed(f"{none}.{signed.jws.split('.')[1]}.", jwks) == "malformed"
    assert failed(jose.sign(b'{"format": "other"}', key.key, {"kid": key.kid}), jwks) == "malformed"


def test_key_rotation_keeps_old_reports_verifiable(lake):
    before = reports.create(lake, CITY, PERIOD)
    key_file = report_keys.folder(lake.cfg) / report_keys.PRIVATE
    old_pem = key_file.read_bytes()
    old, new = report_keys.rotate(lake.cfg)
    assert old == before.kid and new != old
    assert key_file.read_bytes() != old_pem and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    jwks = report_keys.jwks(lake.cfg)
    assert [k["kid"] for k in jwks["keys"]] == [new, old]  # the signing key first, the retired one kept
    header, _ = reports.verify(before.jws, jwks)
    assert header["kid"] == old
    after = reports.create(lake, CITY, PERIOD)
    assert after.kid == new and reports.verify(after.jws, jwks)[0]["kid"] == new
    # a verifier holding only the keys from before the rotation does not know the new one
    assert failed(after.jws, {"keys": [k for k in jwks["keys"] if k["kid"] == old]}) == "unknown key"
    # and once more: every key ever used stays published
    third = report_keys.rotate(lake.cfg)[1]
    assert [k["kid"] for k in report_keys.jwks(lake.cfg)["keys"]] == [third, new, old]
    assert reports.verify(before.jws, report_keys.jwks(lake.cfg))


def test_the_home_key_is_made_once_private_and_agreed_on(lake):
    kids, errors = [], []

    def ask():
        try:
            kids.append(report_keys.signing_key(lake.cfg).kid)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(kids)) == 1
    folder = report_keys.folder(lake.cfg)
    assert stat.S_IMODE((folder / report_keys.PRIVATE).stat().st_mode) == 0o600
    assert [p.name for p in (folder / report_keys.PUBLIC).iterdir()] == [f"{kids[0]}.json"]
    assert sorted(p.name for p in folder.iterdir()) == [report_keys.PUBLIC, report_keys.PRIVATE]  # no leftovers
    [jwk] = report_keys.jwks(lake.cfg)["keys"]
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"], "kid": kids[0], "use": "sig", "alg": "EdDSA"}
    assert len(jose.unb64u(jwk["x"])) == 32 and jose.thumbprint(jwk) == kids[0]
    # a published key file that is not the key its name says is not published
    (folder / report_keys.PUBLIC / "forged.json").write_text(json.dumps({**jwk, "kid": "forged"}))
    assert [k["kid"] for k in report_keys.jwks(lake.cfg)["keys"]] == [kids[0]]


def test_a_configured_key_signs_and_is_published(lake, tmp_path):
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "report_key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    before = reports.create(lake, CITY, PERIOD)  # the home's own key, until one is configured
    configured = Lake(lake.cfg.model_copy(update={"report_key": path}), lake.decl)
    signed = reports.create(configured, CITY, PERIOD)
    kid = jose.thumbprint(jose.public_jwk(key.public_key()))
    assert signed.kid == kid
    jwks = report_keys.jwks(configured.cfg)
    assert [k["kid"] for k in jwks["keys"]] == [kid, before.kid]
    assert reports.verify(signed.jws, jwks) and reports.verify(before.jws, jwks)
    with pytest.raises(ConfigurationError, match="replacing that file"):
        report_keys.rotate(configured.cfg)
    # a key that is not Ed25519, or not there, is refused naming the file
    ec_path = tmp_path / "ec.pem"
    ec_path.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    for bad, why in ((ec_path, "not an Ed25519 key"), (tmp_path / "missing.pem", "missing.pem")):
        with pytest.raises(ConfigurationError, match=why):
            reports.create(Lake(lake.cfg.model_copy(update={"report_key": bad}), lake.decl), CITY, PERIOD)
    # the setting, from the environment, relative to where the process started
    assert Settings(report_key="k.pem").report_key == Path("k.pem").resolve()


def test_what_cannot_be_reported_is_refused(lake):
    with pytest.raises(InvalidRequest, match="371500"):
        reports.create(lake, "371500", PERIOD)
    with pytest.raises(InvalidRequest, match="period"):
        reports.create(lake, CITY, "2026-W47")
    with pytest.raises(NotFound, match="compute them first"):
        reports.create(lake, CITY, "2025-01-01")


def documented_snippet() -> str:
    """The verification block of docs/reports.md, exactly as written there."""
    doc = (REPO / "docs" / "reports.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Verify without the hub"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_documented_snippet_verifies_with_cryptography_alone(lake, tmp_path):
    code = documented_snippet()
    imported = {a.name for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Import) for a in n.names} | {
        n.module for n in ast.walk(ast.parse(code)) if isinstance(n, ast.ImportFrom)}
    assert {m.split(".")[0] for m in imported} == {"base64", "hashlib", "json", "cryptography"}
    signed = reports.create(lake, CITY, PERIOD)
    (tmp_path / "jwks.json").write_text(json.dumps(report_keys.jwks(lake.cfg)), encoding="utf-8")

    def run(jws: str) -> subprocess.CompletedProcess:
        (tmp_path / "report.jws").write_text(jws + "\n", encoding="ascii")
        return subprocess.run([sys.executable, "-I", "-c", code], check=False, cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)

    ok = run(signed.jws)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"valid: {CITY} {PERIOD} {len(signed.report['rows'])} values, key {signed.kid}"
    tampered = payload_of(signed.jws)
    row(tampered, "5")["分子"] += 1
    bad = run(with_payload(signed.jws, tampered))
    assert bad.returncode != 0 and "InvalidSignature" in bad.stderr
    stranger = Ed25519PrivateKey.generate()
    unknown = run(jose.sign(json.dumps(signed.report).encode(), stranger, {"kid": "not-published"}))
    assert unknown.returncode != 0 and "StopIteration" in unknown.stderr
    key = report_keys.signing_key(lake.cfg)
    inconsistent = payload_of(signed.jws)
    row(inconsistent, "19")["证据摘要"]["parts"][0]["sha256"] = "0" * 64
    digest = run(jose.sign(json.dumps(inconsistent).encode(), key.key, {"kid": key.kid}))
    assert digest.returncode != 0 and "AssertionError: 19" in digest.stderr


def test_base64url_is_strict():
    assert jose.unb64u(jose.b64u(b"\xff\xfe")) == b"\xff\xfe"
    for bad in ("ab=", "a+b", "a/b", "a b"):
        with pytest.raises(ValueError):
            jose.unb64u(bad)
    assert base64.urlsafe_b64encode(b"\xff\xfe").decode() == "__4="
