"""#27 (sharing), #28 (open data) and #30 (credit sharing) from the hub's own facts,
against values counted by hand on a small catalogue:

  category     owner (credit unit)  share / open              cycle      feed              state (2 h from now)
  t.areas      ps   (no)            unconditional / open      daily      key_areas         fresh, clean; pulled by a county; opened
  t.status     ps   (no)            conditional / not open    real_time  camera_status     stale (landed 2 h ago, cycle 1 h)
  t.catalog    mr   (yes) credit    unconditional / cond.open daily      camera_catalog    quality: 20 % quarantined
  t.registry   tax  (yes) credit    unconditional / not open  daily      camera_registry   fresh, clean; read only by its owner and an admin
  t.nofeed     hc   (no)            unconditional / open      monthly    -                 no feed
  t.secret     ps   (no)            not shared / not open     daily      -                 excluded

  by hand   #27 nominal 2/5 (areas, registry), effective 1/5 (areas)
            #28 nominal 1/3 (areas of areas, catalog, nofeed), effective 1/3 (areas was downloaded)
            #30 units mr, tax: nominal 1/2 (tax), effective 0/2

The update cycles (real_time 1h, daily 36h, monthly 32d) and the quality tolerance
are those of the installed ``catalog.yaml``; the API is called in-process (its audit
log is what "pulled" and "opened" are counted from).
"""
from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from typer.testing import CliRunner

from cityhub.access import catalogue
from cityhub.cli.main import app as cli_app
from cityhub.core.errors import DeclarationError, InvalidRequest
from cityhub.core.time import now_cst
from cityhub.declarations.indicators import definition
from cityhub.declarations.registry import catalogue_file
from cityhub.pipelines.indicators.engine import compute, evaluate, refresh_now
from cityhub.pipelines.indicators.evidence import evidence
from cityhub.pipelines.indicators.periods import Period, parse_period
from cityhub.pipelines.ingest.runner import run, run_all
from cityhub_sim.cameras import SimConfig, generate, write_drop
from tests.support import assert_problem, auth, token

DAY = date(2026, 11, 22)

CATALOGUE = {
    "departments": {
        "ps": {"name_zh": "公安局", "name_en": "Public security"},
        "mr": {"name_zh": "市场监管局", "name_en": "Market regulation", "credit_unit": True},
        "tax": {"name_zh": "税务局", "name_en": "Tax", "credit_unit": True},
        "hc": {"name_zh": "卫健委", "name_en": "Health"},
    },
    "categories": [
        {"id": "t.areas", "name_zh": "重点区域", "name_en": "Areas", "owner": "ps", "share_type": "unconditional",
         "open_type": "unconditional", "update_cycle": "daily", "datasets": ["key_areas"]},
        {"id": "t.status", "name_zh": "状态", "name_en": "Status", "owner": "ps", "share_type": "conditional",
         "open_type": "not_open", "update_cycle": "real_time", "datasets": ["camera_status"]},
        {"id": "t.catalog", "name_zh": "目录", "name_en": "Catalogue", "owner": "mr", "share_type": "unconditional",
         "open_type": "conditional", "update_cycle": "daily", "datasets": ["camera_catalog"], "credit": True},
        {"id": "t.registry", "name_zh": "档案", "name_en": "Registry", "owner": "tax", "share_type": "unconditional",
         "open_type": "not_open", "update_cycle": "daily", "datasets": ["camera_registry"], "credit": True},
        {"id": "t.nofeed", "name_zh": "无源", "name_en": "No feed", "owner": "hc", "share_type": "unconditional",
         "open_type": "unconditional", "update_cycle": "monthly", "fields": [{"name": "x"}]},
        {"id": "t.secret", "name_zh": "涉密", "name_en": "Secret", "owner": "ps", "share_type": "not_shared",
         "open_type": "not_open", "update_cycle": "daily", "legal_basis": "保守国家秘密法"},
    ],
}


def catalogue_yaml(doc: dict, decl, folder: Path) -> Path:
    """``doc`` as a catalogue declaration file, with the installed update cycles and tolerance."""
    installed = yaml.safe_load((decl.root / "catalog.yaml").read_text(encoding="utf-8"))
    path = folder / "test_catalog.yaml"
    path.write_text(yaml.safe_dump({"update_cycles": installed["update_cycles"],
                                    "quality_tolerance": installed["quality_tolerance"], **doc},
                                   allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def load_catalogue(cfg, decl, folder: Path, doc: dict = CATALOGUE) -> None:
    """``cityhub catalog load --file ... --replace``, in-process."""
    catalogue.load(cfg, decl, replace=True, declared=catalogue_file(catalogue_yaml(doc, decl, folder), decl))


@pytest.fixture
def hub(lake, api, cfg, decl, tmp_path):
    write_drop(generate(SimConfig(cameras_per_county=20, key_areas_per_county=3, day=DAY, fault_rate=0)),
               cfg.drop_root)
    _, failed = run_all(lake, [n for n in decl.connectors if n.startswith("camera_")])
    assert not failed, failed
    load_catalogue(cfg, decl, tmp_path)
    assert decl.catalogue.update_cycles["real_time"] == timedelta(hours=1)   # the table above counts on these
    assert decl.catalogue.update_cycles["daily"] == timedelta(hours=36)
    # the catalogue's quality window sees 20 % of the catalogue's deliveries refused
    landed = lake.query("SELECT count(*) FROM camera_catalog", ["camera_catalog"])[0][0].as_py()
    bad = landed // 4
    assert bad > 0
    lake.commit("quarantine", pa.table({
        "quarantined_at": [now_cst()] * bad, "connector": ["camera_catalog_drop"] * bad,
        "dataset": ["camera_catalog"] * bad, "batch_id": ["test"] * bad, "source": ["test"] * bad,
        "record_key": [f"k{i}" for i in range(bad)], "region": ["371402"] * bad,
        "reason": ["bad_status: test"] * bad, "raw": ["<Item/>"] * bad}), connector="test", batch_id="q")
    return api


def test_sharing_open_and_credit_rates_are_counted_from_facts(hub, lake, cfg, decl):
    client = hub
    county = token(cfg, decl, "qihe-app", "county", region="371425")
    owner = token(cfg, decl, "tax-dept", "department", department="tax")
    admin = token(cfg, decl, "city-admin", "admin")
    assert client.get("/v1/datasets/key_areas/records", headers=auth(county)).json()["count"] > 0
    assert client.get("/v1/datasets/camera_registry/records", headers=auth(owner)).json()["count"] > 0
    assert client.get("/v1/datasets/camera_registry/records", headers=auth(admin)).json()["count"] > 0
    # open data: no token for an open category, public fields only; conditional open needs a token
    r = client.get("/v1/open/datasets/key_areas/records")
    assert r.status_code == 200 and r.json()["count"] > 0
    r = client.get("/v1/open/datasets/key_areas/export")  # a bulk download is an open pull too
    assert r.status_code == 200 and len(r.text.splitlines()) > 1
    assert_problem(client.get("/v1/open/datasets/camera_catalog/records"), 401, "token")
    assert client.get("/v1/open/datasets/camera_catalog/records", headers=auth(county)).status_code == 200
    assert_problem(client.get("/v1/open/datasets/camera_registry/records"), 404)
    assert {c["id"] for c in client.get("/v1/open/catalog").json()["categories"]} == {"t.areas", "t.catalog", "t.nofeed"}

    later = now_cst() + timedelta(hours=2)      # the real-time feed is then 2 h old
    values = compute(lake, later.date(), codes=["27", "28", "30"], kinds=("year",), now=later)
    got = {v["code"]: v for v in values}
    assert {v["region"] for v in values} == {"371400"}          # catalogue-level: the city only
    assert (got["27"]["numerator"], got["27"]["denominator"], got["27"]["value"]) == (2, 5, 0.4)
    assert (got["28"]["numerator"], got["28"]["denominator"]) == (1, 3)
    assert (got["30"]["numerator"], got["30"]["denominator"], got["30"]["value"]) == (1, 2, 0.5)
    alt = {a["code"]: a for v in values for a in json.loads(v["components"])}
    assert (alt["27.effective"]["numerator"], alt["27.effective"]["denominator"]) == (1, 5)
    assert (alt["28.effective"]["numerator"], alt["28.effective"]["denominator"]) == (1, 3)
    assert (alt["30.effective"]["numerator"], alt["30.effective"]["denominator"]) == (0, 2)
    # catalogue-level indicators count the whole city's catalogue: no main-urban scope, no .whole beside them
    assert set(alt) == {"27.effective", "28.effective", "30.effective"}
    for v in values:
        assert "catalogue-level" in v["scope"] and v["rows_without_township"] is None and v["reason"] is None
    assert got["27"]["name_zh"] == "数据资源共享水平" and got["27"]["definition_version"] == 1

    label = got["27"]["period"]
    facts = {r["category_id"]: r for r in lake.query(
        "SELECT * FROM category_facts WHERE period = ?", ["category_facts"], [label]).to_pylist()}
    assert facts["t.status"]["reason"].startswith("stale") and not facts["t.status"]["fresh"]
    assert facts["t.catalog"]["reason"].startswith("quality") and facts["t.catalog"]["fresh"]
    assert facts["t.nofeed"]["reason"].startswith("no feed")
    assert facts["t.areas"]["pulled_by_clients"] == "qihe-app" and facts["t.areas"]["open_pulls"] == 2
    assert facts["t.registry"]["pulled_by"] == 0          # its owner and an admin do not count

    # the evidence names the counted categories, re-run over the stored snapshots
    ev = evidence(lake, "27", "371400", label, "numerator")
    assert sorted(r["category_id"] for r in ev["rows"]) == ["t.areas", "t.registry"] and ev["measured"] == 2
    ev = evidence(lake, "27", "371400", label, "numerator", component="27.effective")
    assert [r["category_id"] for r in ev["rows"]] == ["t.areas"] and ev["stored"] == 1
    with pytest.raises(InvalidRequest, match="whole city only"):
        evidence(lake, "27", "371400", label, "numerator", component="27.whole")
    # recomputing from the same snapshots gives the same value, to the bit
    p = parse_period(label)
    p = Period(label, p.start, later.date())
    again = evaluate(lake, definition(decl.indicator("27"), decl.views), decl.city("371400"), p,
                     json.loads(got["27"]["inputs"]))
    assert again[0]["value"] == got["27"]["value"] and again[0]["components"] == got["27"]["components"]


def test_now_follows_new_data_within_a_minute(hub, lake):
    did, seen = refresh_now(lake)
    assert did
    before = {(v["code"], v["region"]): v for v in _now(lake)}
    did, seen = refresh_now(lake, seen)
    assert not did                                              # nothing landed: nothing recomputed
    # status events land: the next poll recomputes "now" from them
    write_drop(generate(SimConfig(cameras_per_county=20, key_areas_per_county=3, day=now_cst().date(),
                                  fault_rate=0)), lake.cfg.drop_root, parts=("status",))
    assert run(lake, "camera_status_drop").landed > 0
    t0 = time.monotonic()
    did, seen = refresh_now(lake, seen)
    took = time.monotonic() - t0
    assert did and took < 60
    after = {(v["code"], v["region"]): v for v in _now(lake)}
    assert after[("4", "371400")]["inputs"] != before[("4", "371400")]["inputs"]


def _now(lake):
    return lake.query("SELECT * FROM indicator_values WHERE period = 'now' QUALIFY row_number() OVER "
                      "(PARTITION BY code, region ORDER BY computed_at DESC) = 1", ["indicator_values"]).to_pylist()


def test_history_tables_are_compacted_and_old_evidence_stays_readable(lake, cfg, decl, tmp_path):
    day = date(2026, 11, 22)
    load_catalogue(cfg, decl, tmp_path)
    first = compute(lake, day, codes=["27"], kinds=("day",))
    for _ in range(3):
        compute(lake, day, codes=["27"], kinds=("day",))
    assert len(lake.files("category_facts")) == 4
    before = lake.query("SELECT count(*) FROM category_facts", ["category_facts"])[0][0].as_py()
    assert lake.compact("category_facts", max_files=3)
    assert len(lake.files("category_facts")) == 1
    assert lake.query("SELECT count(*) FROM category_facts", ["category_facts"])[0][0].as_py() == before
    assert not lake.compact("category_facts", max_files=3)          # nothing to do now
    # the first value's evidence is read at the snapshots it names, compaction or not
    ev = evidence(lake, "27", "371400", str(day), "denominator")
    assert ev["measured"] == ev["stored"] == 5
    old = json.loads(first[0]["inputs"])["category_facts"]
    assert lake.files("category_facts", old)                         # the old snapshot's files are still there


BAD = {**CATALOGUE, "categories": [
    *CATALOGUE["categories"],
    {**CATALOGUE["categories"][0], "id": "t.areas2"},                                   # key_areas twice
    {**CATALOGUE["categories"][5], "id": "t.open_secret", "open_type": "unconditional"},  # not shared, open
    {**CATALOGUE["categories"][4], "id": "t.orphan", "owner": "nobody"},
]}


def test_a_bad_catalogue_declaration_is_refused_whole_and_changes_nothing(lake, cfg, decl, tmp_path):
    load_catalogue(cfg, decl, tmp_path)
    before = catalogue.current(cfg, decl, 0).categories
    assert set(before) == {c["id"] for c in CATALOGUE["categories"]}
    with pytest.raises(DeclarationError) as e:
        load_catalogue(cfg, decl, tmp_path, BAD)
    for words in ("key_areas already belongs to t.areas", "not_shared category cannot be open", "nobody"):
        assert words in e.value.detail
    assert catalogue.current(cfg, decl, 0).categories == before
    # and as an admin loads it: the command fails, and the catalogue is the one before
    result = CliRunner().invoke(cli_app, ["catalog", "load", "--file", str(catalogue_yaml(BAD, decl, tmp_path)),
                                          "--replace"])
    assert result.exit_code != 0 and "already belongs to t.areas" in " ".join(result.output.split())
    assert catalogue.current(cfg, decl, 0).categories == before
