"""``cityhub reports create|verify|jwks|rotate-key``, in-process as the script runs them:
verify exits 0 with a summary for a good report, 1 naming what failed otherwise."""
from __future__ import annotations

import json

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from cityhub.cli.main import app
from cityhub.core import jose
from cityhub.pipelines.indicators.engine import compute
from tests.integration.api.world import CITY, DAY, land_cameras
from tests.support import token

PERIOD = DAY.isoformat()


def cli(*args: str, code: int = 0) -> str:
    out = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert out.exit_code == code, (out.output, out.exception)
    return out.stdout


@pytest.fixture
def tokens_scoring(cfg, decl):
    return token(cfg, decl, "province-scoring", "scoring")


@pytest.fixture
def computed(lake):
    land_cameras(lake, per_county=10, key_areas=3)
    compute(lake, DAY, codes=["4", "5"], kinds=("day",))
    return lake


def test_create_verify_and_rotate(computed, tmp_path):
    report, jwks = tmp_path / "dezhou.jws", tmp_path / "jwks.json"
    out = cli("reports", "create", "--region", CITY, "--period", PERIOD, "--out", str(report))
    kid = json.loads(jose.unb64u(report.read_text().split(".")[0]))["kid"]
    assert "德州市" in out and kid in out and str(report) in out
    cli("reports", "jwks", "--out", str(jwks))
    assert [k["kid"] for k in json.loads(jwks.read_text())["keys"]] == [kid]

    out = cli("reports", "verify", str(report), "--jwks", str(jwks))
    assert out.startswith("valid") and kid in out and f"{CITY} 德州市 over {PERIOD}" in out
    assert all(code in out for code in ("4.1.whole", "4.2.whole", "5.whole"))  # a line per value
    # printed without --out: the JWS itself, which verifies as well
    printed = tmp_path / "printed.jws"
    printed.write_text(cli("reports", "create", "--region", CITY, "--period", PERIOD))
    assert cli("reports", "verify", str(printed), "--jwks", str(jwks)).startswith("valid")

    # tampered: a value changed
    head, payload, sig = report.read_text().strip().split(".")
    body = json.loads(jose.unb64u(payload))
    body["rows"][0]["指标值"] = 0.123
    tampered = tmp_path / "tampered.jws"
    tampered.write_text(f"{head}.{jose.b64u(json.dumps(body).encode())}.{sig}")
    out = cli("reports", "verify", str(tampered), "--jwks", str(jwks), code=1)
    assert out.startswith("not valid: signature")
    # signed by a key the hub never published
    stranger = tmp_path / "stranger.jws"
    stranger.write_text(jose.sign(jose.unb64u(payload), Ed25519PrivateKey.generate(), {"kid": "stranger"}))
    assert cli("reports", "verify", str(stranger), "--jwks", str(jwks), code=1).startswith("not valid: unknown key")
    garbage = tmp_path / "garbage.jws"
    garbage.write_text("not a report")
    assert cli("reports", "verify", str(garbage), "--jwks", str(jwks), code=1).startswith("not valid: malformed")

    # rotation: the old report verifies with the hub's keys, a new one carries the new key
    out = cli("reports", "rotate-key")
    new = next(k for k in json.loads(cli("reports", "jwks"))["keys"])["kid"]
    assert new != kid and new in out and kid in out
    assert cli("reports", "verify", str(report)).startswith("valid")  # default: this hub's published keys
    cli("reports", "create", "--region", CITY, "--period", PERIOD, "--out", str(tmp_path / "after.jws"))
    assert new in cli("reports", "verify", str(tmp_path / "after.jws"))
    # the keys saved before the rotation know only the old key
    assert "unknown key" in cli("reports", "verify", str(tmp_path / "after.jws"), "--jwks", str(jwks), code=1)


def test_verify_takes_the_api_answer_and_keys_from_a_url(computed, api, tokens_scoring, tmp_path, monkeypatch):
    r = api.get("/v1/reports", headers={"Authorization": f"Bearer {tokens_scoring}"},
                params={"region": CITY, "period": PERIOD})
    assert r.status_code == 200, r.text
    answer = tmp_path / "answer.json"
    answer.write_text(r.text)
    monkeypatch.setattr(httpx, "get", lambda url, **kw: api.get(url.removeprefix("https://hub.example")))
    out = cli("reports", "verify", str(answer), "--jwks", "https://hub.example/.well-known/jwks.json")
    assert out.startswith("valid") and r.json()["kid"] in out


def test_what_the_commands_refuse(computed, tmp_path):
    assert "no stored indicator values" in cli("reports", "create", "--region", CITY, "--period", "2025",
                                               code=2)
    assert "cannot read" in cli("reports", "verify", str(tmp_path / "nothing.jws"), code=2)
    (tmp_path / "keys.json").write_text("[]")
    report = tmp_path / "r.jws"
    report.write_text("a.b.c")
    assert "not a JWK Set" in cli("reports", "verify", str(report), "--jwks", str(tmp_path / "keys.json"), code=2)


def test_verify_without_keys_asks_for_them(hub_home, tmp_path):
    report = tmp_path / "r.jws"
    report.write_text("a.b.c")
    assert "--jwks" in cli("reports", "verify", str(report), code=2)
