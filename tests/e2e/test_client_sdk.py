"""The county SDK (``cityhub_client``) over real HTTP (``cityhub serve``), and the
example county app (examples/county_app.py) keeping a DuckDB copy of its county's
camera and medical data in sync through ``/changes``: the copy equals the county's rows in the lake, a second run brings
nothing, a run after new data lands brings exactly the new rows, a run after a correction
and a removal in the lake brings exactly those upserts and tombstones (and the copy still
equals the lake's current rows), and no other county's row ever reaches it."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cityhub_client import HubClient, HubError
from cityhub_sim import medical
from cityhub_sim.cameras import SimConfig, generate, write_drop

from cityhub.pipelines.indicators.engine import compute
from cityhub.pipelines.ingest.runner import run_all
from tests.conftest import REPO
from tests.support import credentials

DAY = date(2026, 11, 22)
NEXT = DAY + timedelta(days=1)
CITY, COUNTY, OTHER = "371400", "371425", "371402"
DATASETS = ("camera_registry", "camera_catalog", "medical_institutions", "medical_visits")
KEYS = {"camera_registry": ["device_id", "as_of"], "camera_catalog": ["device_id", "as_of"],
        "medical_institutions": ["uscc", "as_of"], "medical_visits": ["date", "uscc", "channel"]}
APP = REPO / "examples" / "county_app.py"
MEDICAL = ["medical_institutions_drop", "medical_visits_drop"]


def cameras(lake, day: date, parts=("key_areas", "registry", "catalog", "status")) -> None:
    write_drop(generate(SimConfig(cameras_per_county=12, key_areas_per_county=3, day=day, events_per_camera=1)),
               lake.cfg.drop_root, parts=parts)


def ingest(lake, names: list[str]) -> None:
    """Land with the declared connectors; one that fails fails the test."""
    _, failed = run_all(lake, names)
    assert not failed, failed


@pytest.fixture
def world(lake, cfg, decl, api_server):
    """A hub served over HTTP with a day of camera and medical data landed, a few
    indicators computed, and a county client registered (as ``cityhub clients create`` would)."""
    cameras(lake, DAY)
    ingest(lake, [n for n in decl.connectors if n.startswith("camera_")])
    med = medical.generate(medical.MedicalConfig(institutions_per_county=6, days=2, start=DAY))
    medical.write_drop(med, cfg.drop_root, days=[DAY])
    ingest(lake, MEDICAL)
    compute(lake, DAY, codes=["5", "18", "20"])
    client_id, secret = credentials(cfg, decl, "qihe-app", "county", COUNTY)
    return api_server, {"client_id": client_id, "client_secret": secret}, lake, med


def lake_rows(lake, dataset: str, where: str = "region = ?", params=(COUNTY,)) -> dict[tuple, dict]:
    rows = lake.query(f'SELECT * FROM "{dataset}" WHERE {where}', [dataset], list(params)).to_pylist()
    out = {tuple(r[k] for k in KEYS[dataset]): r for r in rows}
    assert len(out) == len(rows), f"{dataset}: the lake holds a key twice"
    return out


def current(lake, dataset: str, keys: list[tuple]) -> pa.Table:
    """The lake's current rows of ``keys``."""
    rows = lake.query(f'SELECT * FROM "{dataset}"', [dataset])
    wanted = set(keys)
    return rows.filter(pa.array([tuple(r[k] for k in KEYS[dataset]) in wanted for r in rows.to_pylist()]))


def copy_rows(db, dataset: str) -> dict[tuple, dict]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql(f'SELECT * FROM "{dataset}"').to_arrow_table().to_pylist()
    out = {tuple(r[k] for k in KEYS[dataset]): r for r in rows}
    assert len(out) == len(rows)
    return out


def run_app(base_url: str, creds: dict, db, deleted: dict[str, int] | None = None) -> tuple[dict[str, int], str]:
    """Run the example app; returns the rows each dataset received (and checks the keys
    deleted: ``deleted`` per dataset, none where not named)."""
    env = {**os.environ, "CITYHUB_CLIENT_ID": creds["client_id"], "CITYHUB_CLIENT_SECRET": creds["client_secret"]}
    out = subprocess.run([sys.executable, str(APP), "--base-url", base_url, "--db", str(db)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr + out.stdout
    found = {m[1]: (int(m[2]), int(m[3]))
             for m in re.finditer(r"^(\w+): (\d+) rows received, (\d+) deleted", out.stdout, re.MULTILINE)}
    assert set(found) == set(DATASETS), out.stdout
    assert {ds: d for ds, (_, d) in found.items()} == {ds: (deleted or {}).get(ds, 0) for ds in DATASETS}, out.stdout
    return {ds: n for ds, (n, _) in found.items()}, out.stdout


def assert_copy_is_the_county(lake, db) -> None:
    for ds in DATASETS:
        want, got = lake_rows(lake, ds), copy_rows(db, ds)
        assert want, f"no {ds} rows for {COUNTY} in the lake: the test data is too thin"
        assert got == want, ds
        assert lake_rows(lake, ds, "region <> ?"), f"no other county's {ds} rows: scoping is not tested"
        assert {r["region"] for r in got.values()} == {COUNTY}


def test_county_app_keeps_an_exact_copy_through_changes(world, tmp_path):
    base_url, creds, lake, med = world
    db = tmp_path / "county.duckdb"

    first, out = run_app(base_url, creds, db)
    assert all(first[ds] == len(lake_rows(lake, ds)) for ds in DATASETS), first
    assert_copy_is_the_county(lake, db)
    assert f"latest indicator values for {COUNTY}" in out

    second, _ = run_app(base_url, creds, db)
    assert second == dict.fromkeys(DATASETS, 0)
    assert_copy_is_the_county(lake, db)

    # the next day lands: camera registry and catalogue, the medical registry and visits
    before = {ds: set(lake_rows(lake, ds)) for ds in DATASETS}
    cameras(lake, NEXT, parts=("registry", "catalog"))
    ingest(lake, ["camera_registry", "camera_catalog_drop"])
    medical.write_drop(med, lake.cfg.drop_root, days=[NEXT])
    ingest(lake, MEDICAL)
    new = {ds: set(lake_rows(lake, ds)) - before[ds] for ds in DATASETS}
    assert all(new.values()), {ds: len(v) for ds, v in new.items()}
    time.sleep(1.2)  # the API re-reads a table's current snapshot at most once a second

    third, _ = run_app(base_url, creds, db)
    assert third == {ds: len(new[ds]) for ds in DATASETS}
    assert_copy_is_the_county(lake, db)
    with duckdb.connect(str(db), read_only=True) as con:
        state = dict(con.execute("SELECT dataset, rows_total FROM sync_state").fetchall())
    assert state == {ds: len(before[ds]) + len(new[ds]) for ds in DATASETS}

    fourth, _ = run_app(base_url, creds, db)
    assert fourth == dict.fromkeys(DATASETS, 0)

    # corrections (same key, new values) and removals replace and delete rows in the lake
    # (a camera taken out of the registry, an institution's record fixed and another withdrawn)
    registry, institutions = sorted(lake_rows(lake, "camera_registry")), sorted(lake_rows(lake, "medical_institutions"))
    fixed = current(lake, "camera_registry", registry[:3])
    fixed = fixed.set_column(fixed.schema.get_field_index("name"), "name", pa.array(["更正后的名称"] * 3))
    assert lake.replace("camera_registry", fixed, connector="camera_registry", batch_id="fix").removed == 3
    gone = current(lake, "camera_registry", registry[3:5]).select(KEYS["camera_registry"])
    assert lake.delete_keys("camera_registry", gone, connector="camera_registry", batch_id="rm").removed == 2
    inst = current(lake, "medical_institutions", institutions[:1])
    inst = inst.set_column(inst.schema.get_field_index("name"), "name", pa.array(["更正后的医院"]))
    lake.replace("medical_institutions", inst, connector="medical_institutions_drop", batch_id="fix")
    lake.delete_keys("medical_institutions", current(lake, "medical_institutions", institutions[1:2]).select(
        KEYS["medical_institutions"]), connector="medical_institutions_drop", batch_id="rm")
    # and a compaction rewrites the catalogue's files with the same rows: nothing to apply
    assert lake.compact("camera_catalog", max_files=1)
    time.sleep(1.2)

    fifth, _ = run_app(base_url, creds, db, deleted={"camera_registry": 2, "medical_institutions": 1})
    assert fifth == {**dict.fromkeys(DATASETS, 0), "camera_registry": 3, "medical_institutions": 1}
    assert_copy_is_the_county(lake, db)
    assert {r["name"] for k, r in copy_rows(db, "camera_registry").items() if k in registry[:3]} == {"更正后的名称"}
    assert not set(registry[3:5]) & set(copy_rows(db, "camera_registry"))
    sixth, _ = run_app(base_url, creds, db)
    assert sixth == dict.fromkeys(DATASETS, 0)


def test_client_reads_pages_arrow_exports_and_errors(world, tmp_path):
    base_url, creds, lake, _ = world
    want = lake_rows(lake, "medical_visits")
    with HubClient(base_url, creds["client_id"], creds["client_secret"]) as hub:
        assert {"ps.camera_registry", "hc.visits"} <= {c["id"] for c in hub.catalog()["categories"]}
        rows = list(hub.records("medical_visits", limit=7))
        assert len(rows) == len(want) and {r["region"] for r in rows} == {COUNTY}
        web = list(hub.records("medical_visits", channel=["web", "app"], date=f"ge:{DAY}", limit=5))
        assert web and len(web) == sum(1 for r in want.values() if r["channel"] in ("web", "app"))
        assert hub.page("medical_visits", limit=3, fields=["uscc", "visits"])["records"][0].keys() == {"uscc", "visits"}

        paged = hub.arrow("camera_registry", limit=5)
        bulk = hub.arrow("camera_registry", bulk=True)
        assert paged.num_rows == bulk.num_rows == len(lake_rows(lake, "camera_registry"))
        assert paged.to_pylist() == bulk.to_pylist()
        path = hub.export("camera_registry", tmp_path / "registry.parquet")
        assert pq.read_table(path).to_pylist() == bulk.to_pylist()

        tables, since = hub.changes("medical_visits", limit=4)
        assert sum(t.num_rows for t in tables) == len(want) and len(tables) > 1
        again, same = hub.changes("medical_visits", since=since)
        assert sum(t.num_rows for t in again) == 0 and same == since
        records, _ = hub.changes("medical_visits", format="json")
        assert len(records) == len(want) and hub.key("medical_visits") == KEYS["medical_visits"]

        assert hub.indicators(code="5") and {v["region"] for v in hub.indicators()} == {COUNTY}
        g = hub.apply_grant("hc.visits", "the county's appointment-rate dashboard", scope="city", days=30)
        assert g["status"] == "pending" and [x["id"] for x in hub.grants()] == [g["id"]]

        with pytest.raises(HubError) as e:
            list(hub.records("camera_registry", region=OTHER))
        assert e.value.status == 403 and COUNTY in e.value.detail
        with pytest.raises(HubError) as e:
            hub.page("camera_registry", nope="1")
        assert e.value.status == 400 and "nope" in e.value.detail

        hub._token = "expired-or-revoked"  # a 401 gets a new token once, then the call goes through
        assert hub.page("camera_registry", limit=1)["count"] == 1
    with pytest.raises(HubError) as e:
        HubClient(base_url, creds["client_id"], "wrong").catalog()
    assert e.value.status == 401


def test_client_renews_tokens_and_honours_retry_after():
    """Against a scripted transport: the token is renewed before it expires, 429 and
    503 are retried after Retry-After, other errors raise at once."""
    calls: list[str] = []
    script: list[httpx.Response] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/v1/token":
            n = calls.count("/v1/token")
            return httpx.Response(200, json={"access_token": f"t{n}", "token_type": "Bearer", "expires_in": 3600})
        assert request.headers["authorization"].startswith("Bearer t")
        return script.pop(0)

    hub = HubClient("http://hub", "id", "secret", transport=httpx.MockTransport(handler))
    problem = {"content-type": "application/problem+json"}
    busy = {**problem, "Retry-After": "0"}
    script += [httpx.Response(429, json={"status": 429, "title": "Too Many Requests", "detail": "slow"}, headers=busy),
               httpx.Response(503, json={"status": 503, "title": "Service Unavailable", "detail": "x"}, headers=busy),
               httpx.Response(200, json={"indicators": [{"code": "5"}]})]
    t0 = time.monotonic()
    assert hub.indicators() == [{"code": "5"}] and time.monotonic() - t0 < 2
    assert calls.count("/v1/token") == 1 and hub.token() == "t1"
    hub._renew_at = time.monotonic() - 1  # about to expire: the next call renews first
    script.append(httpx.Response(200, json={"grants": []}))
    assert hub.grants() == [] and hub.token() == "t2"
    script.append(httpx.Response(404, json={"status": 404, "title": "Not Found", "detail": "no dataset 'x'"},
                                 headers=problem))
    with pytest.raises(HubError) as e:
        hub.page("x")
    assert (e.value.status, e.value.detail, e.value.title) == (404, "no dataset 'x'", "Not Found")
    script += [httpx.Response(429, json={"detail": "slow"}, headers=busy)] * 5
    with pytest.raises(HubError) as e:
        hub.catalog()
    assert e.value.status == 429 and e.value.retry_after == 0
