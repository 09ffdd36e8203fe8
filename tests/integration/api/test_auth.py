"""Authentication, in-process: OAuth2 client credentials at ``POST /v1/token``,
bearer tokens required and checked on every request, a disabled client refused at
once."""
from __future__ import annotations

from sqlalchemy import select

from cityhub.access import clients
from cityhub.lake.hubdb import clients as clients_table
from cityhub.lake.hubdb import engine
from tests.integration.api.world import QIHE
from tests.support import assert_problem, auth, credentials, token


def client_credentials(api, client_id: str, secret: str):
    return api.post("/v1/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                       "client_secret": secret})


def test_client_credentials_give_a_short_lived_bearer_token(api, cfg, decl):
    for name, role, region in (("qihe-app", "county", QIHE), ("province-scoring", "scoring", None)):
        r = client_credentials(api, *credentials(cfg, decl, name, role, region))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 3600
        assert api.get("/v1/catalog", headers=auth(body["access_token"])).status_code == 200


def test_token_endpoint_follows_client_credentials(api, cfg, decl):
    client_id, secret = credentials(cfg, decl, "linyi-app", "county", "371424")
    bad = client_credentials(api, client_id, "wrong")
    assert_problem(bad, 401, "secret")
    assert bad.json()["error"] == "invalid_client"
    assert_problem(api.post("/v1/token", data={"grant_type": "password", "client_id": "x", "client_secret": "y"}),
                   400, "grant_type")
    basic = api.post("/v1/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert basic.status_code == 200 and basic.json()["access_token"]
    # the secret is stored hashed, never as given
    with engine(cfg.hub_db_uri).connect() as con:
        stored = con.execute(select(clients_table.c.secret_hash).where(clients_table.c.id == client_id)).scalar_one()
    assert stored.startswith("scrypt$") and secret not in stored
    clients.set_disabled(cfg, "linyi-app", True)
    assert_problem(client_credentials(api, client_id, secret), 401, "disabled")
    assert_problem(api.get("/v1/catalog", headers=auth(basic.json()["access_token"])), 401, "disabled")


def test_tokens_are_required_and_checked(api, cfg, decl):
    county = token(cfg, decl, "qihe-app", "county", QIHE)
    assert_problem(api.get("/v1/catalog"), 401, "bearer token")
    assert_problem(api.get("/v1/catalog", headers=auth("not-a-token")), 401, "not valid")
    assert_problem(api.get("/v1/catalog", headers=auth(county[:-3] + "abc")), 401)


def test_a_disabled_client_is_refused_at_once(api, cfg, decl):
    h = auth(token(cfg, decl, "qihe-app", "county", QIHE))
    assert api.get("/v1/catalog", headers=h).status_code == 200
    clients.set_disabled(cfg, "qihe-app", True)
    assert_problem(api.get("/v1/catalog", headers=h), 401, "disabled")
