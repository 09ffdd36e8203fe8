"""The change feed, in-process: ``/changes`` brings upserts and tombstones on the
dataset's key between two snapshots, correct under appends, corrections (``Lake.replace``),
removals (``Lake.delete_keys``) and compaction, in JSON, CSV and Arrow, paged with
cursors pinned to the two snapshots, scoped and masked like records and audited; the SDK
and the example county app apply both, so a county copy converges to the lake."""
from __future__ import annotations

import importlib.util
import io
import shutil
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from cityhub_client import HubClient

from cityhub.declarations import load
from cityhub.declarations.loading import packaged_root
from cityhub.lake import Lake
from cityhub.read import records
from cityhub.read.snapshots import SnapshotCache
from tests.conftest import REPO
from tests.integration.api.world import DAY, DECHENG, QIHE, SSR, land_cameras, land_social_security
from tests.support import auth, credentials, token

URL = "/v1/datasets/camera_registry/changes"
KEY = ("device_id", "as_of")
ARROW = "application/vnd.apache.arrow.stream"


@pytest.fixture
def tokens(cfg, decl):
    return {"qihe": token(cfg, decl, "qihe-app", "county", QIHE),
            "decheng": token(cfg, decl, "decheng-app", "county", DECHENG),
            "admin": token(cfg, decl, "city-admin", "admin")}


@pytest.fixture
def registry(lake):
    land_cameras(lake, per_county=30, key_areas=4, parts=("registry",))


def lake_rows(lake, dataset: str = "camera_registry", key=KEY, region: str | None = QIHE) -> dict[tuple, dict]:
    where, params = ("WHERE region = ?", [region]) if region else ("", [])
    rows = lake.query(f'SELECT * FROM "{dataset}" {where}', [dataset], params).to_pylist()
    out = {tuple(str(r[k]) for k in key): {k: v for k, v in r.items()} for r in rows}
    assert len(out) == len(rows), "the lake holds a key twice"
    return out


def sync(api, tok: str, since: str | None = None, url: str = URL, limit: int = 1000, fmt: str = "json",
         **params) -> tuple[list[dict], list[dict], str, int]:
    """One change set in pages of ``limit``: (upserts, tombstones, next since, pages)."""
    upserts, deletes, pages = [], [], 0
    while True:
        q = {**params, "limit": limit, "format": fmt, **({"since": since} if since else {})}
        r = api.get(url, headers=auth(tok), params=q)
        assert r.status_code == 200, r.text
        pages += 1
        if fmt == "json":
            body = r.json()
            assert "op" not in (body["records"][0] if body["records"] else {})
            upserts += body["records"]
            deletes += body["deleted"]
            since, more = body["next_cursor"], body["has_more"]
        else:
            t = table(r, fmt)
            assert t.column_names[0] == "op" and set(t["op"].to_pylist()) <= {"upsert", "delete"}
            for row in t.to_pylist():
                op = row.pop("op")
                (upserts if op == "upsert" else deletes).append(row)
            since, more = r.headers["x-next-cursor"], r.headers["x-has-more"] == "true"
        if not more:
            return upserts, deletes, since, pages


def table(r, fmt: str) -> pa.Table:
    """A CSV or Arrow answer as a table (CSV: text columns as text, empty fields as null)."""
    if fmt == "arrow":
        return pa.ipc.open_stream(r.content).read_all()
    text = ("region", "device_id", "as_of", "key_area_id", "township_code", "name", "serial", "id_number", "phone")
    return pacsv.read_csv(io.BytesIO(r.content), convert_options=pacsv.ConvertOptions(
        column_types=dict.fromkeys(text, pa.string()), strings_can_be_null=True))


def keyed(rows: list[dict], key=KEY) -> dict[tuple, dict]:
    out = {tuple(str(r[k]) for k in key): r for r in rows}
    assert len(out) == len(rows), "a key came twice in one change set"
    return out


def apply(copy: dict, upserts: list[dict], deletes: list[dict], key=KEY) -> None:
    assert not set(keyed(upserts, key)) & set(keyed(deletes, key)), "a key was both upserted and deleted"
    for k in keyed(deletes, key):
        copy.pop(k, None)
    copy.update(keyed(upserts, key))


def rows_of(lake, keys: list[tuple]) -> pa.Table:
    """The lake's current rows of ``keys`` (camera_registry)."""
    all_rows = lake.query("SELECT * FROM camera_registry", ["camera_registry"])
    wanted = set(keys)
    return all_rows.filter(pa.array([(d, str(a)) in wanted for d, a in zip(all_rows["device_id"].to_pylist(),
                                                                           all_rows["as_of"].to_pylist())]))


def with_values(t: pa.Table, **values) -> pa.Table:
    for name, v in values.items():
        t = t.set_column(t.schema.get_field_index(name), name, pa.array([v] * t.num_rows, t.schema.field(name).type))
    return t


def corrected(lake, region: str, n: int, **values) -> pa.Table:
    """``n`` of ``region``'s cameras with new ``values``."""
    return with_values(rows_of(lake, sorted(lake_rows(lake, region=region))[:n]), **values)


def same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for k, row in want.items():
        assert {f: str(v) for f, v in got[k].items()} == {f: str(v) for f, v in row.items()}, k


def test_corrections_removals_and_compaction_become_upserts_tombstones_and_nothing(api, lake, tokens, registry):
    q = tokens["qihe"]
    upserts, deletes, since, _ = sync(api, q)
    copy = keyed(upserts)
    assert not deletes
    same(copy, lake_rows(lake))

    # appends only: the next day's registry is upserts, nothing is deleted
    land_cameras(lake, DAY + timedelta(days=1), per_county=30, key_areas=4, parts=("registry",))
    upserts, deletes, since, _ = sync(api, q, since)
    assert upserts and not deletes and {r["as_of"] for r in upserts} == {str(DAY + timedelta(days=1))}
    apply(copy, upserts, deletes)
    same(copy, lake_rows(lake))

    # a correction (same keys, new values): one upsert per key, no duplicate in the copy
    fix = corrected(lake, QIHE, 3, name="corrected", resolution="3840x2160")
    c = lake.replace("camera_registry", fix, connector="camera_registry", batch_id="fix")
    assert (c.rows, c.removed) == (3, 3)
    upserts, deletes, since, _ = sync(api, q, since)
    assert not deletes and len(upserts) == 3 and {r["name"] for r in upserts} == {"corrected"}
    before = len(copy)
    apply(copy, upserts, deletes)
    assert len(copy) == before
    same(copy, lake_rows(lake))

    # a correction that changes nothing (identical rows replaced) is no change
    lake.replace("camera_registry", rows_of(lake, list(keyed(upserts))), connector="camera_registry", batch_id="same")
    upserts, deletes, since, _ = sync(api, q, since)
    assert (upserts, deletes) == ([], [])

    # a removal: tombstones with the key and nothing else
    gone = sorted(lake_rows(lake))[-2:]
    lake.delete_keys("camera_registry", pa.Table.from_pylist([dict(zip(KEY, k)) for k in gone]).cast(
        pa.schema([("device_id", pa.string()), ("as_of", pa.date32())])), connector="camera_registry", batch_id="rm")
    upserts, deletes, since, _ = sync(api, q, since)
    assert not upserts and sorted(tuple(str(d[k]) for k in KEY) for d in deletes) == gone
    assert all(set(d) == set(KEY) for d in deletes)
    apply(copy, upserts, deletes)
    same(copy, lake_rows(lake))

    # compaction rewrites every file with the same rows: nothing to apply
    files = len(lake.files("camera_registry"))
    assert files > 1 and lake.compact("camera_registry", max_files=1) and len(lake.files("camera_registry")) == 1
    upserts, deletes, since2, _ = sync(api, q, since)
    assert (upserts, deletes) == ([], []) and since2 != since
    # and a correction after it diffs against the compacted file
    lake.replace("camera_registry", corrected(lake, QIHE, 1, owner="county bureau"), connector="camera_registry",
                 batch_id="fix2")
    upserts, deletes, _, _ = sync(api, q, since2)
    assert len(upserts) == 1 and upserts[0]["owner"] == "county bureau" and not deletes
    apply(copy, upserts, deletes)
    same(copy, lake_rows(lake))


def test_tombstones_are_scoped_a_county_never_learns_another_countys_keys(api, lake, tokens, registry):
    starts = {who: sync(api, tokens[who])[2] for who in ("qihe", "decheng", "admin")}
    qihe_keys, decheng_keys = sorted(lake_rows(lake))[:2], sorted(lake_rows(lake, region=DECHENG))[:2]
    lake.delete_keys("camera_registry", rows_of(lake, qihe_keys + decheng_keys).select(list(KEY)),
                     connector="camera_registry", batch_id="rm")
    # a camera moves from Qihe to Decheng: it leaves Qihe's view (a tombstone) and enters Decheng's (an upsert)
    mover = sorted(lake_rows(lake))[5]
    lake.replace("camera_registry", with_values(rows_of(lake, [mover]), region=DECHENG), connector="camera_registry",
                 batch_id="move")
    got = {who: sync(api, tokens[who], starts[who], limit=1) for who in starts}
    (up_q, del_q, _, _), (up_d, del_d, _, _), (up_a, del_a, _, _) = got["qihe"], got["decheng"], got["admin"]
    assert not up_q and sorted(tuple(str(d[k]) for k in KEY) for d in del_q) == sorted(qihe_keys + [mover])
    assert [tuple(str(r[k]) for k in KEY) for r in up_d] == [mover] and up_d[0]["region"] == DECHENG
    assert sorted(tuple(str(d[k]) for k in KEY) for d in del_d) == decheng_keys
    # city-wide: the mover is an upsert (still present), the four removed cameras tombstones
    assert [tuple(str(r[k]) for k in KEY) for r in up_a] == [mover]
    assert sorted(tuple(str(d[k]) for k in KEY) for d in del_a) == sorted(qihe_keys + decheng_keys)
    # a filtered view: a camera whose key area changes leaves the view of that key area
    area = next(r["key_area_id"] for r in lake_rows(lake).values() if r["key_area_id"])
    in_area = sorted(k for k, r in lake_rows(lake).items() if r["key_area_id"] == area)
    since = sync(api, tokens["qihe"], key_area_id=area)[2]
    lake.replace("camera_registry", with_values(rows_of(lake, in_area[:1]), key_area_id=None),
                 connector="camera_registry", batch_id="area")
    up, dl, _, _ = sync(api, tokens["qihe"], since, key_area_id=area)
    assert not up and [tuple(str(d[k]) for k in KEY) for d in dl] == in_area[:1]
    up, dl, _, _ = sync(api, tokens["qihe"], since)   # without the filter: an upsert
    assert [tuple(str(r[k]) for k in KEY) for r in up] == in_area[:1] and not dl and up[0]["key_area_id"] is None


@pytest.mark.parametrize("fmt", ["json", "csv", "arrow"])
def test_cursors_page_through_a_change_set_mixing_upserts_and_tombstones(api, lake, tokens, registry, fmt):
    q = tokens["qihe"]
    copy_upserts, _, since, _ = sync(api, q, fmt=fmt)
    copy = keyed(copy_upserts)
    keys = sorted(lake_rows(lake))
    lake.replace("camera_registry", with_values(rows_of(lake, keys[0:20:2]), name="fixed"),
                 connector="camera_registry", batch_id="fix")
    lake.delete_keys("camera_registry", rows_of(lake, keys[1:20:2]).select(list(KEY)), connector="camera_registry",
                     batch_id="rm")
    land_cameras(lake, DAY + timedelta(days=1), per_county=3, key_areas=1, parts=("registry",))
    # page by page: a page of 3 mixes upserts and tombstones; each key comes once, in the lake's order
    seen, pages, cursor, order = [], 0, since, []
    while True:
        params = {"limit": 3, "format": fmt, "since": cursor}
        r = api.get(URL, headers=auth(q), params=params)
        assert r.status_code == 200, r.text
        if fmt == "json":
            body = r.json()
            page = [("upsert", x) for x in body["records"]] + [("delete", x) for x in body["deleted"]]
            cursor, more = body["next_cursor"], body["has_more"]
        else:
            page = [(x.pop("op"), x) for x in table(r, fmt).to_pylist()]
            cursor, more = r.headers["x-next-cursor"], r.headers["x-has-more"] == "true"
            order += [(str(x["as_of"]), x["device_id"]) for _, x in page]
        assert len(page) <= 3
        pages += 1
        seen += page
        if pages == 2:  # something lands mid-way: the change set stays pinned to its snapshots
            lake.delete_keys("camera_registry", rows_of(lake, keys[25:26]).select(list(KEY)),
                             connector="camera_registry", batch_id="late")
        if not more:
            break
    ups = [x for op, x in seen if op == "upsert"]
    dels = [x for op, x in seen if op == "delete"]
    assert len(seen) == len({(str(x["as_of"]), x["device_id"]) for _, x in seen})
    assert len(dels) == 10 and len(ups) == 10 + 3 and pages >= 8
    if order:
        assert order == sorted(order)
    assert {tuple(str(d[k]) for k in KEY) for d in dels} == set(keys[1:20:2])
    if fmt != "json":
        assert any(op == "delete" for op, _ in seen[:6]) and any(op == "upsert" for op, _ in seen[:6])
    apply(copy, ups, dels)
    # the late removal comes with the next change set
    up, dl, _, _ = sync(api, q, cursor, fmt=fmt)
    assert not up and [tuple(str(d[k]) for k in KEY) for d in dl] == keys[25:26]
    apply(copy, up, dl)
    assert set(copy) == set(lake_rows(lake))


def test_tombstones_carry_no_personal_value_and_upserts_stay_masked(api, cfg, decl, lake):
    land_social_security(lake, 60)
    q = token(cfg, decl, "qihe-ss", "county", QIHE)
    hrss = token(cfg, decl, "hrss-dept", "department", department="human_resources_social_security")
    g = api.post("/v1/grants", headers=auth(q), json={"category": "hrss.records", "days": 5,
                                                      "purpose": "cross-region pension qualification follow-up"})
    assert g.status_code == 201, g.text
    assert api.post(f"/v1/grants/{g.json()['id']}/approve", headers=auth(hrss)).status_code == 200
    url = f"{SSR}/changes"
    since = sync(api, q, url=url)[2]
    raw = lake.query("SELECT * FROM social_security_records WHERE region = ? ORDER BY serial",
                     ["social_security_records"], [QIHE])
    fix = raw.slice(0, 2).set_column(raw.schema.get_field_index("name"), "name", pa.array(["王小明", "李四"]))
    lake.replace("social_security_records", fix, connector="social_security_records_drop", batch_id="fix")
    lake.delete_keys("social_security_records", raw.slice(2, 2).select(["serial"]),
                     connector="social_security_records_drop", batch_id="rm")
    clear = {r["serial"]: r for r in raw.to_pylist()}
    for fmt in ("json", "csv", "arrow"):
        up, dl, _, _ = sync(api, q, since, url=url, fmt=fmt, limit=1)
        assert sorted(r["serial"] for r in up) == sorted(fix["serial"].to_pylist())
        assert sorted(r["serial"] for r in dl) == sorted(raw["serial"].to_pylist()[2:4])
        for r in up:  # masked as records are
            assert r["name"] in ("王**", "李*") and r["id_number"] != clear[r["serial"]]["id_number"]
            assert "*" in r["id_number"] and r["phone"][3:7] == "****"
        for r in dl:  # a tombstone is the key and nothing else
            assert all(v is None for f, v in r.items() if f != "serial"), r
    # and every read of the feed is audited, tombstones counted among its rows
    admin = token(cfg, decl, "city-admin", "admin")
    entries = api.get("/v1/audit", headers=auth(admin), params={"client": "qihe-ss"}).json()["entries"]
    reads = [e for e in entries if e["action"] == "changes" and e["status"] == 200]
    assert len(reads) >= 1 + 3 * 4 and sum(e["rows"] for e in reads if e["filters"]["since"]) >= 3 * 4


def load_app():
    spec = importlib.util.spec_from_file_location("county_app", REPO / "examples" / "county_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sdk_and_the_county_app_converge_after_corrections_and_removals(api, cfg, decl, lake, registry, tmp_path):
    app = load_app()
    client_id, secret = credentials(cfg, decl, "qihe-sdk", "county", QIHE)
    with HubClient("http://testserver", client_id, secret, transport=api._transport) as hub, \
            duckdb.connect(str(tmp_path / "copy.duckdb")) as con:
        con.execute(app.STATE)

        def local() -> dict[tuple, dict]:
            return {tuple(str(r[k]) for k in KEY): r
                    for r in con.sql("SELECT * FROM camera_registry").to_arrow_table().to_pylist()}

        assert app.sync(hub, con, "camera_registry") == (len(lake_rows(lake)), 0)
        same(local(), lake_rows(lake))
        keys = sorted(lake_rows(lake))
        lake.replace("camera_registry", with_values(rows_of(lake, keys[:4]), name="new"),
                     connector="camera_registry", batch_id="fix")
        lake.delete_keys("camera_registry", rows_of(lake, keys[4:7]).select(list(KEY)), connector="camera_registry",
                         batch_id="rm")
        assert app.sync(hub, con, "camera_registry") == (4, 3)
        same(local(), lake_rows(lake))
        assert app.sync(hub, con, "camera_registry") == (0, 0)

        # the SDK itself: Arrow and JSON agree, and it still unpacks as (rows, since)
        since = con.execute("SELECT since FROM sync_state").fetchone()[0]
        lake.delete_keys("camera_registry", rows_of(lake, keys[7:8]).select(list(KEY)), connector="camera_registry",
                         batch_id="rm2")
        arrow = hub.changes("camera_registry", since=since, limit=1)
        js = hub.changes("camera_registry", since=since, format="json")
        assert (arrow.upserted, arrow.deleted) == (js.upserted, js.deleted) == (0, 1)
        assert arrow.key == js.key == list(KEY) and arrow.deletes[0].column_names == list(KEY)
        assert [{k: str(v) for k, v in d.items()} for d in js.deletes] == \
            [{k: str(v) for k, v in r.items()} for t in arrow.deletes for r in t.to_pylist()]
        rows, nxt = hub.changes("camera_registry", since=since)
        assert sum(t.num_rows for t in rows) == 0 and nxt == arrow.since


def test_a_personal_key_field_is_masked_in_tombstones_as_in_rows(cfg, tmp_path):
    """No declared dataset has a personal field in its key; one that did would have it
    masked in its tombstones like in its rows (unless a grant names it), and scoped."""
    root = tmp_path / "decl"
    shutil.copytree(packaged_root(), root)
    path = root / "contracts" / "social_security_records.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("key: [serial]", "key: [serial, id_number]"),
                    encoding="utf-8")
    decl = load(root)
    lake = Lake(cfg, decl)
    c = decl.contract("social_security_records")
    ids = {QIHE: "371425199001011234", DECHENG: "37140219851231567X"}
    rows = pa.Table.from_pylist([
        {"serial": f"S{i}", "business_type": "ENROL", "channel": "web", "region": region, "remote": False,
         "status": "accepted", "accepted_at": datetime(2026, 11, 22, 9, i), "id_number": ids[region], "name": "张三"}
        for i, region in enumerate([QIHE, QIHE, DECHENG])], schema=c.arrow_schema())
    lake.commit("social_security_records", rows, connector="t", batch_id="1")
    cache = SnapshotCache(lake, ttl=0)
    masked = records.Query("social_security_records", regions=[QIHE])
    clear = records.Query("social_security_records", regions=[QIHE], unmasked=frozenset({"id_number"}))
    since = records.changes(cache, masked, limit=100, since=None).next_cursor
    lake.delete_keys("social_security_records", rows.select(list(c.key)).slice(1), connector="t", batch_id="2")
    got = records.changes(cache, masked, limit=100, since=since).rows.to_pylist()
    assert got == [{"op": "delete", **dict.fromkeys(c.field_names), "serial": "S1", "id_number": "3714**********1234"}]
    got = records.changes(cache, clear, limit=100, since=since).rows.to_pylist()
    assert [(r["serial"], r["id_number"]) for r in got] == [("S1", ids[QIHE])]
