"""The security findings of issue 15, in-process, each with the test that shows it fixed:

- the rows behind an indicator value pass the same access decision as the records
  they are, for every role, and never carry a personal field;
- a forged cursor or ``since`` gets a 400 that says what is wrong (a null was a 500);
- values of personal fields are masked in the filters the audit log keeps, refused
  or served (an ID number typed into a filter was logged verbatim);
- ``POST /v1/token`` is throttled per client id in the shared rate-limit store, and an
  unknown client id costs as much time as a wrong secret.
"""
from __future__ import annotations

import base64
import hashlib
import json
import statistics
import time
import uuid
from collections import Counter
from urllib.parse import quote_plus

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from limits.aio.storage import MemoryStorage

from cityhub.access import catalogue
from cityhub.api.main import create_app
from cityhub.core.identifiers import id_check_char
from cityhub.core.settings import Settings
from cityhub.pipelines.indicators.engine import compute
from cityhub.read.cursors import encode_cursor, encode_since
from tests.integration.api.world import CITY, DAY, DECHENG, QIHE, SSR, land_cameras, land_social_security
from tests.support import assert_problem, auth, clear_of_a_minute_turn, credentials, token

REGISTRY = "/v1/datasets/camera_registry"


@pytest.fixture
def tokens(cfg, decl):
    return {
        "qihe": token(cfg, decl, "qihe-app", "county", QIHE),
        "hrss": token(cfg, decl, "hrss-dept", "department", department="human_resources_social_security"),
        "scoring": token(cfg, decl, "province-scoring", "scoring"),
        "admin": token(cfg, decl, "city-admin", "admin"),
    }


@pytest.fixture
def values(lake):
    """Cameras and a day of social-security records landed, #5 and #19 computed for the day."""
    land_cameras(lake, per_county=10, key_areas=3)
    land_social_security(lake, 200)
    compute(lake, DAY, codes=["5", "19"], kinds=("day",))


def _audit(api, tokens, **params) -> list[dict]:
    r = api.get("/v1/audit", headers=auth(tokens["admin"]), params={"limit": 10000, **params})
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def _personal_values(lake) -> set[str]:
    rows = lake.query("SELECT id_number, name, phone FROM social_security_records",
                      ["social_security_records"]).to_pylist()
    return {v for r in rows for v in r.values() if v}


# -- 1. evidence passes the access decision of records -----------------------------------

EV19 = "/v1/indicators/19/evidence"


def test_evidence_of_a_conditional_category_needs_a_grant_for_every_role(api, lake, tokens, values):
    day = {"region": QIHE, "period": str(DAY)}
    for role in ("scoring", "admin", "qihe"):
        h = auth(tokens[role])
        # the same decision as the records the rows are
        assert_problem(api.get(f"{SSR}/records", headers=h), 403, "hrss.records", "grant")
        for side in ("numerator", "denominator"):
            r = api.get(EV19, headers=h, params={**day, "side": side})
            assert_problem(r, 403, "evidence of 19", "social_security_records", "hrss.records", "grant")
    # each refusal is audited, with the dataset and category it was refused for
    for name in ("province-scoring", "city-admin", "qihe-app"):
        refused = [e for e in _audit(api, tokens, client=name, action="indicators.evidence")]
        assert len(refused) == 2 and {e["status"] for e in refused} == {403}, refused
        assert {(e["dataset"], e["category"]) for e in refused} == {("social_security_records", "hrss.records")}
    # evidence of unconditionally shared categories stays open to the scoring layer and admins
    for role in ("scoring", "admin"):
        r = api.get("/v1/indicators/5/evidence", headers=auth(tokens[role]),
                    params={"region": CITY, "period": str(DAY), "side": "denominator"})
        assert r.status_code == 200 and r.json()["rows"], r.text


def test_with_a_grant_the_scoring_layer_verifies_19_but_never_sees_personal_fields(api, lake, tokens, values):
    s, hrss = auth(tokens["scoring"]), auth(tokens["hrss"])
    # even a grant that names a personal field in clear does not put it into evidence
    g = api.post("/v1/grants", headers=s, json={"category": "hrss.records", "fields": ["id_number", "name"],
                                                "purpose": "verifying the value of indicator 19", "days": 30})
    assert g.status_code == 201, g.text
    assert g.json()["scope"] == "city"
    assert api.post(f"/v1/grants/{g.json()['id']}/approve", headers=hrss).status_code == 200
    personal = _personal_values(lake)
    stored = {v["region"]: v for v in api.get("/v1/indicators", headers=s, params={"code": "19", "period": str(DAY)}
                                               ).json()["indicators"]}
    seen = 0
    for who in (s, hrss):   # the scoring layer with its grant, and the owner
        for region in (CITY, QIHE, DECHENG):
            for side in ("numerator", "denominator"):
                r = api.get(EV19, headers=who, params={"region": region, "period": str(DAY), "side": side,
                                                        "limit": 10000})
                assert r.status_code == 200, r.text
                ev = r.json()
                assert ev["measured"] == ev["stored"]
                if region in stored:
                    assert ev["stored"] == stored[region][side]
                for row in ev["rows"]:
                    assert not {"id_number", "name", "phone"} & set(row), row
                    assert not {str(v) for v in row.values()} & personal, row
                seen += len(ev["rows"])
    assert seen
    # a grant is the only way: the admin still may not (it decides on grants, it does not read)
    assert_problem(api.get(EV19, headers=auth(tokens["admin"]), params={"region": CITY, "period": str(DAY)}),
                   403, "grant")


def test_evidence_of_a_category_that_is_not_shared_is_refused_but_to_its_owner(api, cfg, decl, lake, tokens, values):
    declared = decl.catalogue.categories["ps.camera_catalog"]
    catalogue.put_category(cfg, decl, declared.model_copy(update={
        "share_type": "not_shared", "open_type": "not_open", "legal_basis": "a test's own reason"}), by="test")
    params = {"region": CITY, "period": str(DAY), "side": "denominator"}
    for role, region in (("scoring", CITY), ("admin", CITY), ("qihe", QIHE)):
        assert_problem(api.get("/v1/indicators/5/evidence", headers=auth(tokens[role]),
                               params={**params, "region": region}), 403, "camera_catalog", "not shared")
    owner = token(cfg, decl, "ps-dept", "department", department="public_security")
    assert api.get("/v1/indicators/5/evidence", headers=auth(owner), params=params).status_code == 200


# -- 2. forged cursors -----------------------------------------------------------------------


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


@pytest.fixture
def registry(lake):
    land_cameras(lake, per_county=10, key_areas=3, parts=("registry",))
    return lake.snapshot_id("camera_registry")


FORGED_KEYS = [
    (["371425", None, "x"], "as_of"),                         # a null: was a 500
    ([None, None, None], "region"),
    ([None, "2026-11-22", "x"], "region"),                    # a null region: was a 500 with region=
    (["371425", "2026-11-22", None], "device_id"),
    (["371425", "22/11/2026", "x"], "as_of"),                 # does not parse as a date
    (["371425", 20261122, "x"], "as_of"),                     # not text
    (["371425", "2026-11-22"], "3"),                          # too few
    (["371425", "2026-11-22", "x", "y"], "3"),                # too many
    ("371425", "list"),
]


@pytest.mark.parametrize("params", [{}, {"region": QIHE}, {"order": "desc"}])
@pytest.mark.parametrize(("key", "why"), FORGED_KEYS)
def test_a_forged_page_cursor_is_a_400_that_says_what_is_wrong(api, tokens, registry, params, key, why):
    h = auth(tokens["admin"])
    cursor = {"s": registry, "k": key, **({"d": 1} if params.get("order") == "desc" else {})}
    r = api.get(f"{REGISTRY}/records", headers=h, params={**params, "cursor": _b64(cursor)})
    assert_problem(r, 400, "cursor is not valid", why)


@pytest.mark.parametrize(("cursor", "why"), [
    (lambda sid: _b64({"s": None, "k": ["371425", "2026-11-22", "x"]}), "snapshot"),
    (lambda sid: _b64({"s": str(sid), "k": ["371425", "2026-11-22", "x"]}), "snapshot"),
    (lambda sid: _b64({"s": True, "k": ["371425", "2026-11-22", "x"]}), "snapshot"),
    (lambda sid: _b64({"s": 2**64, "k": ["371425", "2026-11-22", "x"]}), "snapshot"),
    (lambda sid: _b64({"s": sid}), "order values"),
    (lambda sid: _b64([sid]), "JSON object"),
    (lambda sid: "not-a-cursor", "JSON object"),
    (lambda sid: encode_since("camera_registry", sid, None, None), "since="),
    (lambda sid: encode_cursor(sid, ["x", "2026-11-22"], sort="key"), "sort order"),
])
def test_a_forged_page_cursor_of_any_shape_is_a_400(api, tokens, registry, cursor, why):
    r = api.get(f"{REGISTRY}/records", headers=auth(tokens["admin"]), params={"cursor": cursor(registry)})
    assert_problem(r, 400, why)


def test_a_cursor_of_another_sort_checks_that_sorts_columns(api, tokens, registry):
    h = auth(tokens["admin"])
    good = _b64({"s": registry, "k": ["37142500001320000001", "2026-11-22"], "o": "key"})
    assert api.get(f"{REGISTRY}/records", headers=h, params={"sort": "key", "cursor": good}).status_code == 200
    bad = _b64({"s": registry, "k": ["37142500001320000001", None], "o": "key"})
    assert_problem(api.get(f"{REGISTRY}/records", headers=h, params={"sort": "key", "cursor": bad}),
                   400, "cursor is not valid", "as_of")


@pytest.mark.parametrize(("since", "why"), [
    (lambda sid: _b64({"f": None, "t": sid, "k": ["371425", None, "x"]}), "as_of"),
    (lambda sid: _b64({"f": None, "t": sid, "k": [None, None, None]}), "region"),
    (lambda sid: _b64({"f": None, "t": sid, "k": ["371425", "2026-11-22"]}), "3"),
    (lambda sid: _b64({"f": None, "t": sid, "k": ["371425", "someday", "x"]}), "as_of"),
    (lambda sid: _b64({"f": True, "t": None, "k": None}), "snapshot"),
    (lambda sid: _b64({"f": sid, "t": "now", "k": None}), "snapshot"),
    (lambda sid: _b64({"f": sid, "t": None, "k": ["371425", "2026-11-22", "x"]}), "snapshot"),
    (lambda sid: encode_since("camera_status", sid, None, None), "camera_status"),   # another dataset's
    (lambda sid: encode_cursor(sid, ["371425", "2026-11-22", "x"]), "cursor="),
    (lambda sid: "garbage", "JSON object"),
])
def test_a_forged_since_is_a_400_that_says_what_is_wrong(api, tokens, registry, since, why):
    for params in ({}, {"region": QIHE}):
        r = api.get(f"{REGISTRY}/changes", headers=auth(tokens["admin"]), params={**params, "since": since(registry)})
        assert_problem(r, 400, "since is not valid", why)


def test_no_forged_cursor_or_since_is_a_server_error(api, tokens, registry):
    """Property-based, through the API: any JSON in a cursor's place is served or refused
    with a 400 problem; never a 500 (the TestClient raises a server error)."""
    h = auth(tokens["admin"])
    leaf = (st.none() | st.booleans() | st.integers() | st.just(registry) | st.floats(allow_nan=False)
            | st.text(max_size=8) | st.sampled_from(["371425", QIHE, "2026-11-22", "2026-11-22T09:00:00+14:00",
                                                     "0001-01-01", "9999-12-31", "37142500001320000001"]))
    values = st.recursive(leaf, lambda inner: st.lists(inner, max_size=4), max_leaves=6)
    cursors = st.fixed_dictionaries({"s": leaf, "k": st.lists(leaf, min_size=3, max_size=3) | values},
                                    optional={"d": leaf, "o": st.sampled_from(["key", "lake"])})
    sinces = st.fixed_dictionaries({"f": leaf, "t": leaf, "k": st.lists(leaf, min_size=3, max_size=3) | values},
                                   optional={"n": st.sampled_from(["camera_registry", "camera_status"]) | leaf})

    @settings(max_examples=120, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(which=st.sampled_from(["records", "changes"]), cursor=cursors, since=sinces,
           region=st.sampled_from([None, QIHE]))
    def check(which, cursor, since, region):
        params = {"region": region} if region else {}
        if which == "records":
            params["cursor"] = _b64(cursor)
            if cursor.get("o"):
                params["sort"] = cursor["o"]
            if cursor.get("d"):
                params["order"] = "desc"
        else:
            params["since"] = _b64(since)
        r = api.get(f"{REGISTRY}/{which}", headers=h, params=params)
        assert r.status_code in (200, 400, 410), r.text
        if r.status_code != 200:
            assert r.headers["content-type"].startswith("application/problem+json")

    check()


# -- 3. personal values are masked in the audit log ------------------------------------------


def _citizen_id(region: str, born: str, seq: str) -> str:
    first = f"{region}{born}{seq}"
    return first + id_check_char(first)


def test_personal_values_typed_into_filters_are_masked_in_the_audit_log(api, lake, tokens, values):
    q = auth(tokens["qihe"])
    real = lake.query("SELECT id_number, name, phone FROM social_security_records LIMIT 2",
                      ["social_security_records"]).to_pylist()
    one, two = real[0]["id_number"], real[1]["id_number"]
    typed = _citizen_id("371425", "19800101", "123")
    # refused: personal fields a county's grant does not name, as they are and inside in: and ge:
    assert_problem(api.get(f"{SSR}/records", headers=q, params={"id_number": one}), 403)
    assert_problem(api.get(f"{SSR}/records", headers=q, params={"id_number": f"in:{one},{two}"}), 403)
    assert_problem(api.get(f"{SSR}/records", headers=q, params={"phone": real[0]["phone"]}), 403)
    assert_problem(api.get(f"{SSR}/records", headers=q, params={"name": f"ge:{real[0]['name']}"}), 403)
    # refused: a parameter that is no field at all, and an open-data query
    assert_problem(api.get(f"{REGISTRY}/records", headers=q, params={"idno": typed}), 400, "idno")
    assert_problem(api.get("/v1/open/datasets/medical_institutions/records", params={"id_number": typed}), 400)
    # served: an ID number typed into the filter of a field that is not personal
    r = api.get(f"{REGISTRY}/records", headers=q, params={"device_id": typed})
    assert r.status_code == 200 and r.json()["records"] == []
    r = api.get(f"{REGISTRY}/changes", headers=q, params={"device_id": f"in:{typed},x"})
    assert r.status_code == 200

    entries = _audit(api, tokens)
    text = json.dumps(entries, ensure_ascii=False)
    for clear in (one, two, typed, real[0]["phone"], real[0]["name"]):
        assert clear not in text and quote_plus(clear) not in text, clear
    # masked the way the field declares it: an ID number keeps its first and last four characters
    assert f"{one[:4]}{'*' * 10}{one[-4:]}" in text and f"{typed[:4]}{'*' * 10}{typed[-4:]}" in text
    assert f"{real[0]['phone'][:3]}****{real[0]['phone'][-4:]}" in text
    refused = [e for e in entries if e["dataset"] == "social_security_records" and e["status"] == 403]
    assert len(refused) == 4 and all(e["filters"]["query"] for e in refused)
    assert ["name", f"ge:{real[0]['name'][0]}{'*' * (len(real[0]['name']) - 1)}"] in refused[0]["filters"]["query"]
    served = [e for e in entries if e["dataset"] == "camera_registry" and e["status"] == 200]
    assert {e["action"] for e in served} == {"records", "changes"}
    assert all(e["filters"]["where"][0][0] == "device_id" for e in served)


# -- 4. the token endpoint ----------------------------------------------------------------------


class SharedMemoryStorage(MemoryStorage):
    """A ``limits`` storage that every app of this process configured with the same URI
    shares, as API workers share Redis (``cityhub-test-shared://<name>``)."""

    STORAGE_SCHEME = ["async+cityhub-test-shared"]
    _shared: dict[str, tuple] = {}

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.storage, self.expirations, self.events = self._shared.setdefault(uri, (Counter(), {}, {}))


def _token_form(client_id: str, secret: str | None) -> dict:
    form = {"grant_type": "client_credentials", "client_id": client_id}
    if secret is not None:
        form["client_secret"] = secret
    return form


def test_token_requests_are_throttled_per_client_id_across_workers(hub_home, decl):
    cfg = Settings(token_rate_limit="3/minute", rate_limit_storage=f"cityhub-test-shared://{uuid.uuid4().hex}")
    # two workers (apps) over one shared store, each called from addresses of its own
    with TestClient(create_app(cfg, decl), client=("192.0.2.1", 1)) as one, \
            TestClient(create_app(cfg, decl), client=("192.0.2.2", 1)) as two:
        client_id, secret = credentials(cfg, decl, "guessed-app", "county", QIHE)
        other_id, other_secret = credentials(cfg, decl, "other-app", "county", QIHE)
        clear_of_a_minute_turn()
        for worker in (one, two, one):
            assert_problem(worker.post("/v1/token", data=_token_form(client_id, "wrong")), 401, "secret")
        # the id's failures are used up on both workers: even the right secret waits now
        for worker in (two, one):
            r = worker.post("/v1/token", data=_token_form(client_id, secret))
            assert_problem(r, 429, "client")
            assert 1 <= int(r.headers["retry-after"]) <= 60
            assert r.json()["error"] == "slow_down"
        # another client is not held up by it
        assert one.post("/v1/token", data=_token_form(other_id, other_secret)).status_code == 200
        # an id that does not exist is throttled alike (a 429 does not tell which ids exist)
        ghost = uuid.uuid4().hex
        codes = [w.post("/v1/token", data=_token_form(ghost, "x")).status_code for w in (one, two, one, two)]
        assert codes == [401, 401, 401, 429]


def _median_cpu(client: TestClient, form: dict, status: int, n: int = 7) -> float:
    """The median CPU time of a token request: the process's CPU (the secret is checked on a
    worker thread), not wall clock, which another process on the machine stretches."""
    times = []
    for _ in range(n):
        t = time.process_time()
        r = client.post("/v1/token", data=form() if callable(form) else form)
        times.append(time.process_time() - t)
        assert r.status_code == status, r.text
    return statistics.median(times)


def test_an_unknown_client_id_costs_as_much_time_as_a_wrong_secret(hub_home, decl, monkeypatch):
    cfg = Settings(token_rate_limit="1000/minute", open_rate_limit="1000/minute")
    scrypt = min(_scrypt_cpu(bytes(16)) for _ in range(3))    # the cost of checking one secret
    with TestClient(create_app(cfg, decl), client=(f"timing-{uuid.uuid4().hex}", 1)) as api:
        client_id, secret = credentials(cfg, decl, "timed-app", "county", QIHE)
        assert api.post("/v1/token", data=_token_form(client_id, secret)).status_code == 200   # warm
        cheap = _median_cpu(api, _token_form(client_id, None), 400)            # refused before any check
        wrong = _median_cpu(api, _token_form(client_id, "wrong-secret"), 401)
        unknown = _median_cpu(api, lambda: _token_form(uuid.uuid4().hex, "wrong-secret"), 401)
        # the same work, counted: one scrypt of the same cost for either refusal, none for the cheap one
        seen, work, real = [], {}, hashlib.scrypt
        monkeypatch.setattr(hashlib, "scrypt", lambda *a, **kw: seen.append((kw["n"], kw["r"], kw["p"])) or real(*a, **kw))
        for name, form, status in (("cheap", _token_form(client_id, None), 400),
                                   ("wrong", _token_form(client_id, "wrong-secret"), 401),
                                   ("unknown", _token_form(uuid.uuid4().hex, "wrong-secret"), 401)):
            seen.clear()
            assert api.post("/v1/token", data=form).status_code == status
            work[name] = list(seen)
    assert work == {"cheap": [], "wrong": [(2**14, 8, 1)], "unknown": [(2**14, 8, 1)]}, work
    # both pay for a scrypt, well above a cheap refusal, and about the same
    assert wrong > cheap + scrypt / 2 and unknown > cheap + scrypt / 2, (cheap, wrong, unknown, scrypt)
    assert 0.5 < unknown / wrong < 2, (wrong, unknown)


def _scrypt_cpu(salt: bytes) -> float:
    t = time.process_time()
    hashlib.scrypt(b"secret", salt=salt, n=2**14, r=8, p=1, dklen=32)
    return time.process_time() - t


# -- the audit log's reader: refusals are audited too -------------------------------------------


def test_a_refused_read_of_the_audit_log_is_audited(api, tokens):
    for role in ("qihe", "scoring"):
        assert_problem(api.get("/v1/audit", headers=auth(tokens[role])), 403, "audit")
    refused = [e for e in _audit(api, tokens, action="audit") if e["status"] == 403]
    assert {e["client_name"] for e in refused} == {"qihe-app", "province-scoring"}


def test_open_datas_condition_is_the_records_decision(api, cfg, decl, lake, tokens):
    """The open-data condition, now in ``cityhub.access.policies``: a category open on
    condition needs a token (a bare Bearer challenge), and shared on condition a grant."""
    land_social_security(lake, 20)
    declared = decl.catalogue.categories["hrss.records"]
    catalogue.put_category(cfg, decl, declared.model_copy(update={"open_type": "conditional"}), by="test")
    url = "/v1/open/datasets/social_security_records/records"
    r = api.get(url, params={"id_number": "x"})
    assert_problem(r, 401, "token")
    assert r.headers["www-authenticate"] == "Bearer"
    assert_problem(api.get(url, headers=auth(tokens["scoring"])), 403, "grant")
    own = api.get(url, headers=auth(tokens["hrss"]))
    assert own.status_code == 200 and own.json()["records"]
    assert not {"id_number", "name", "phone"} & set(own.json()["records"][0])
    refused = [e for e in _audit(api, tokens, dataset="social_security_records") if e["status"] == 401]
    assert refused and refused[0]["filters"]["query"] == [["id_number", "***"]]
