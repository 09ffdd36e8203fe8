"""The mappings behind the open-data metadata, without a hub: update cycles to the EU
frequency table, datasets to DCAT-AP nodes and CKAN packages, and CKAN's search
(``q``, ``fq`` as harvesters send it, sorting, paging, CKAN's validation)."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest

from cityhub.core.errors import NotFound
from cityhub.declarations import load
from cityhub.declarations.catalogue import Category, Department, Licence
from cityhub.pipelines import open_metadata as om

BASE = "https://hub.example"
CITY = load().city("371400")
F = om.FREQUENCY


def dataset(cid: str, *, owner: str = "tax", open_type: str = "unconditional", share_type: str = "unconditional",
            cycle: str = "daily", credit: bool = False, modified: datetime = datetime(2026, 11, 22, 9),
            distributions: bool = True, licence: Licence | None = None) -> om.OpenDataset:
    dep = Department(id=owner, name_zh=f"{owner}局", name_en=f"{owner.title()} Bureau")
    cat = Category(id=cid, name_zh=f"{cid}名称", name_en=f"{cid} (name)", owner=owner, share_type=share_type,
                   open_type=open_type, update_cycle=cycle, credit=credit,
                   fields=[{"name": "code"}, {"name": "holder_name", "sensitivity": "personal", "mask": "name"}])
    name = cid.replace(".", "_")
    dists = tuple(om.Distribution(name, f, f"{BASE}/v1/open/datasets/{name}/{'records' if f == 'json' else 'export'}",
                                  "记录", "records", ("code",), modified)
                  for f in ("json", "csv")) if distributions else ()
    ds = om.OpenDataset(category=cat, owner=dep, contact=dep, contact_email=None, licence=licence,
                        frequency=om.frequency(cycle, None), fields=("code",), distributions=dists,
                        start=date(2026, 1, 1), end=date(2026, 11, 22), regions=(CITY.code, "371425"),
                        created=datetime(2026, 1, 1), modified=modified)
    return om._described(ds, CITY)


CC_BY = Licence(uri="https://creativecommons.org/licenses/by/4.0/", id="cc-by", title="CC BY 4.0")


def test_update_cycles_map_to_the_eu_frequency_table():
    assert om.frequency("real_time", timedelta(hours=1)) == F + "UPDATE_CONT"
    assert om.frequency("hourly", timedelta(hours=3)) == F + "HOURLY"
    assert om.frequency("daily", timedelta(hours=36)) == F + "DAILY"
    assert om.frequency("weekly", None) == F + "WEEKLY"
    assert om.frequency("monthly", None) == F + "MONTHLY"
    assert om.frequency("quarterly", None) == F + "QUARTERLY"
    assert om.frequency("yearly", None) == F + "ANNUAL"
    # a cycle a city named otherwise: by how old its newest landing may be
    assert om.frequency("twice_a_day", timedelta(hours=14)) == F + "DAILY"
    assert om.frequency("fortnightly", timedelta(days=15)) == F + "MONTHLY"
    assert om.frequency("decennial", timedelta(days=3650)) == F + "IRREG"
    assert om.frequency("whenever", None) == F + "UNKNOWN"


def test_the_dcat_document_types_every_vocabulary_term_and_names_only_public_fields():
    doc = om.dcat_catalog([dataset("tax.a"), dataset("tax.b", open_type="conditional")], CITY, BASE, CC_BY)
    nodes = {n["@id"]: n for n in doc["@graph"]}
    assert doc["@graph"][0]["@type"] == ["dcat:Catalog"] and doc["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    a = nodes[f"{BASE}/v1/open/dcat.jsonld#dataset-tax.a"]
    assert a["dct:title"] == [{"@value": "tax.a名称", "@language": "zh"}, {"@value": "tax.a (name)", "@language": "en"}]
    assert nodes[a["dct:accrualPeriodicity"]["@id"]]["@type"] == ["dct:Frequency"]
    assert nodes[a["dct:license"]["@id"]]["@type"] == ["dct:LicenseDocument"]
    assert a["dct:accessRights"]["@id"] == om.PUBLIC
    assert nodes[a["dct:temporal"]["@id"]]["dcat:startDate"] == {"@value": "2026-01-01", "@type": "xsd:date"}
    assert [nodes[s["@id"]]["dct:identifier"] for s in a["dct:spatial"]] == ["371400", "371425"]
    b = nodes[f"{BASE}/v1/open/dcat.jsonld#dataset-tax.b"]
    assert b["dct:accessRights"]["@id"] == om.RESTRICTED
    rights = {nodes[nodes[d["@id"]]["dct:rights"]["@id"]]["@id"] for d in b["dcat:distribution"]}
    assert rights == {f"{BASE}/v1/open/dcat.jsonld#rights-token"}
    assert "dct:rights" not in nodes[a["dcat:distribution"][0]["@id"]]
    text = str(doc)
    assert "holder_name" not in text and "code" in text
    # the records API is accessed, an export is downloaded
    json_d, csv_d = (nodes[d["@id"]] for d in a["dcat:distribution"])
    assert "dcat:downloadURL" not in json_d and csv_d["dcat:downloadURL"] == csv_d["dcat:accessURL"]
    assert nodes[csv_d["dcat:mediaType"]["@id"]]["@type"] == ["dct:MediaType"]


def test_a_grant_as_well_as_a_token_is_said_so():
    ds = dataset("dr.eval", open_type="conditional", share_type="conditional")
    assert ds.needs_token and ds.needs_grant
    doc = om.dcat_catalog([ds], CITY, BASE, CC_BY)
    rights = next(n for n in doc["@graph"] if n["@id"].endswith("#rights-grant"))
    assert "grant" in rights["rdfs:label"][1]["@value"] and "授权" in rights["rdfs:label"][0]["@value"]
    pkg = om.ckan_package(ds, BASE)
    assert pkg["isopen"] is False and "live grant" in pkg["notes"]


def test_without_a_declared_licence_none_is_claimed():
    ds = dataset("tax.a")
    doc = om.dcat_catalog([ds], CITY, BASE, None)
    assert "dct:license" not in str(doc)
    pkg = om.ckan_package(ds, BASE)
    assert (pkg["license_id"], pkg["license_title"], pkg["license_url"], pkg["isopen"]) == (
        "notspecified", "License not specified", None, False)
    assert om.ckan_package(dataset("tax.a", licence=CC_BY), BASE)["isopen"] is True


def test_a_package_is_what_ckan_would_store():
    pkg = om.ckan_package(dataset("tax.a_grade", credit=True, licence=CC_BY), BASE)
    assert pkg["name"] == "tax-a_grade" and re.fullmatch(r"[a-z0-9_-]{2,100}", pkg["name"])
    assert pkg["metadata_modified"] == "2026-11-22T01:00:00"  # 09:00 CST is 01:00 UTC, as CKAN keeps times
    # tags keep CKAN's characters only: "tax.a_grade (name)" loses its brackets
    assert all(re.fullmatch(r"[\w .-]{2,100}", t["name"]) for t in pkg["tags"])
    assert {"tax.a_grade name", "公共信用信息", "public credit information"} <= {t["name"] for t in pkg["tags"]}
    assert all(isinstance(e["value"], str) and e["value"] for e in pkg["extras"])
    # a category with no feed yet has no resources, and says so
    bare = om.ckan_package(dataset("tax.c", distributions=False), BASE)
    assert bare["resources"] == [] and bare["num_resources"] == 0 and "No feed" in bare["notes"]


@pytest.fixture
def packages() -> list[dict]:
    specs = [("tax.a", "tax", datetime(2026, 11, 20)), ("tax.b", "tax", datetime(2026, 11, 22)),
             ("hc.x", "health_commission", datetime(2026, 11, 21)), ("eco.air", "ecology", datetime(2026, 10, 1))]
    return [om.ckan_package(dataset(cid, owner=o, modified=m, credit=cid == "tax.b"), BASE) for cid, o, m in specs]


def names(result: dict) -> list[str]:
    return [p["name"] for p in result["results"]]


def test_search_filters_as_harvesters_send_fq(packages):
    assert sorted(names(om.search(packages, fq="organization:tax"))) == ["tax-a", "tax-b"]
    assert sorted(names(om.search(packages, fq="-organization:tax"))) == ["eco-air", "hc-x"]
    assert sorted(names(om.search(packages, fq="organization:tax OR organization:health-commission"))) == [
        "hc-x", "tax-a", "tax-b"]
    assert sorted(names(om.search(packages, fq="(organization:tax OR organization:ecology) -name:tax-a"))) == [
        "eco-air", "tax-b"]
    # metadata_modified ranges in UTC: 2026-11-21 00:00 CST is 2026-11-20 16:00 UTC
    assert sorted(names(om.search(packages, fq="metadata_modified:[2026-11-20T16:00:00Z TO *]"))) == ["hc-x", "tax-b"]
    assert names(om.search(packages, fq="metadata_modified:[* TO 2026-10-01T00:00:00Z]")) == ["eco-air"]
    assert names(om.search(packages, fq='tags:"公共信用信息"')) == ["tax-b"]
    assert names(om.search(packages, fq="+identifier:hc.x")) == ["hc-x"]
    assert len(names(om.search(packages, fq="*:*"))) == 4
    for bad in ("colour:red", "metadata_modified:[yesterday TO *]", "metadata_modified:[2026]", 'name:"open'):
        with pytest.raises(om.SearchQueryError):
            om.search(packages, fq=bad)


def test_search_words_sorting_and_paging(packages):
    assert names(om.search(packages, q="hc.x名称")) == ["hc-x"]
    assert names(om.search(packages, q="TAX.A (NAME)")) == ["tax-a"]  # any case
    assert sorted(names(om.search(packages, q="organization:tax 名称"))) == ["tax-a", "tax-b"]
    assert names(om.search(packages, q="nothing-like-this")) == []
    assert names(om.search(packages, sort="metadata_modified desc")) == ["tax-b", "hc-x", "tax-a", "eco-air"]
    assert names(om.search(packages, sort="name asc")) == ["eco-air", "hc-x", "tax-a", "tax-b"]
    by_id = [p["id"] for p in om.search(packages, sort="id asc")["results"]]
    assert by_id == sorted(by_id)
    assert names(om.search(packages)) == names(om.search(packages, sort="score desc, metadata_modified desc"))
    page = om.search(packages, rows="2", start="1", sort="name asc")
    assert (page["count"], names(page)) == (4, ["hc-x", "tax-a"])
    assert names(om.search(packages, rows=0)) == [] and om.search(packages, rows=0)["count"] == 4
    with pytest.raises(om.SearchQueryError):
        om.search(packages, sort="organization asc")
    with pytest.raises(om.SearchQueryError):
        om.search(packages, sort="name sideways")


def test_ckan_integer_parameters_are_validated_as_ckan_does():
    assert om.natural("rows", None, 10, 1000) == 10 and om.natural("rows", "5000", 10, 1000) == 1000
    for raw, message in (("ten", "Invalid integer"), ("1.5", "Invalid integer"), ("-1", "Must be a natural number")):
        with pytest.raises(om.CkanValidationError) as e:
            om.natural("rows", raw, 10)
        assert e.value.errors == {"rows": [message]}
    ds = [dataset("a.x"), dataset("b.y"), dataset("c.z")]
    assert om.package_list(ds) == ["a-x", "b-y", "c-z"]
    assert om.package_list(ds, limit="1", offset="1") == ["b-y"]
    assert om.find(ds, "b.y") is ds[1] and om.find(ds, "b-y") is ds[1] and om.find(ds, ds[1].uuid) is ds[1]
    with pytest.raises(NotFound):
        om.find(ds, "d-w")
