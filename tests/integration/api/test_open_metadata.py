"""Open-data metadata as portals harvest it, in-process: the DCAT-AP catalogue parsed
with rdflib and validated with pyshacl against the official DCAT-AP 3.0.1 shapes
(``shapes/``), its distribution URLs answered, and CKAN's ``package_list``,
``package_show`` and ``package_search`` checked field by field, paged as
ckanext-harvest pages them. Data is landed by the real connectors from the
medical simulator's delivery and #18 is computed (indicator values are open data)."""
from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pyshacl
import pytest
from cityhub_sim import medical
from fastapi.testclient import TestClient
from rdflib import RDF, RDFS, Graph, Literal, Namespace, URIRef

from cityhub.access import audit, catalogue
from cityhub.api.main import create_app
from cityhub.core.settings import Settings
from cityhub.lake import Lake
from cityhub.pipelines.indicators.engine import compute
from cityhub.pipelines.ingest import runner
from tests.integration.api.world import CITY, DAY, QIHE, count
from tests.support import auth, token

# plain namespaces: rdflib's closed ones warn when pytest looks at them while collecting
DCAT, DCTERMS = Namespace("http://www.w3.org/ns/dcat#"), Namespace("http://purl.org/dc/terms/")
FOAF, SKOS = Namespace("http://xmlns.com/foaf/0.1/"), Namespace("http://www.w3.org/2004/02/skos/core#")
VCARD, XSD = Namespace("http://www.w3.org/2006/vcard/ns#"), Namespace("http://www.w3.org/2001/XMLSchema#")
SH = Namespace("http://www.w3.org/ns/shacl#")
SHAPES = Path(__file__).parent / "shapes" / "dcat-ap-3.0.1-SHACL.ttl"
EU = "http://publications.europa.eu/resource/authority/"
BASE = "http://testserver"
DCAT_URL = "/v1/open/dcat.jsonld"
CKAN = "/api/3/action"

pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")  # rdflib's own


@dataclass
class World:
    cfg: Settings
    lake: Lake
    api: TestClient


@pytest.fixture(scope="module")
def world(tmp_path_factory, decl):
    """One hub for the module: two days of the health commission's registry and visits
    landed by their connectors, and #18 computed over them."""
    mp = pytest.MonkeyPatch()
    for var in [v for v in os.environ if v.startswith("CITYHUB_")]:
        mp.delenv(var)
    mp.setenv("CITYHUB_HOME", str(tmp_path_factory.mktemp("open-metadata") / "hub"))
    try:
        cfg = Settings(open_rate_limit="100000/minute")  # harvesting pages many times without a token
        lake = Lake(cfg, decl)
        sim = medical.generate(medical.MedicalConfig(institutions_per_county=6, fault_rate=0, days=2,
                                                     start=DAY - timedelta(days=1)))
        medical.write_drop(sim, cfg.drop_root)
        _, failed = runner.run_all(lake, ["medical_institutions_drop", "medical_visits_drop"])
        assert not failed, failed
        compute(lake, DAY, codes=["18"], kinds=("day",))
        with TestClient(create_app(cfg, decl)) as api:
            yield World(cfg, lake, api)
    finally:
        mp.undo()


def open_categories(w: World) -> dict:
    cat = catalogue.current(w.cfg, w.lake.decl, 0)
    return {c.id: c for c in cat.categories.values() if c.should_open and c.should_share}


def dcat_graph(w: World, **headers) -> tuple[Graph, str]:
    r = w.api.get(DCAT_URL, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/ld+json"
    return Graph().parse(data=r.text, format="json-ld"), r.text


def dataset_node(g: Graph, cid: str) -> URIRef:
    nodes = [s for s in g.subjects(DCTERMS.identifier, Literal(cid)) if (s, RDF.type, DCAT.Dataset) in g]
    assert len(nodes) == 1, (cid, nodes)
    return nodes[0]


def texts(g: Graph, s, p) -> dict[str, str]:
    return {o.language: str(o) for o in g.objects(s, p)}


def secret_field_names(w: World) -> set[str]:
    """Field names that are personal or internal wherever they occur (never public anywhere)."""
    hidden, public = set(), set()
    fields = [(f.name, f.sensitivity) for c in w.lake.decl.contracts.values() for f in c.fields]
    fields += [(f.name, f.sensitivity) for c in catalogue.current(w.cfg, w.lake.decl).categories.values()
               for f in c.fields]
    for name, sensitivity in fields:
        (public if sensitivity == "public" else hidden).add(name)
    return hidden - public


def assert_no_secret_field(w: World, text: str) -> None:
    """No personal or internal field's name in ``text`` (those that read as words, like
    ``grade``, only where fields are listed), and only public fields in its field lists."""
    secret = secret_field_names(w)
    assert {"practitioner_name", "debtor_id_number", "safety_officer_phone", "major_hazard_level",
            "legal_representative_id_number", "chemicals"} <= secret
    leaked = sorted(n for n in secret if "_" in n and re.search(rf"\b{re.escape(n)}\b", text))
    assert not leaked, leaked
    lists = re.findall(r"Open fields: ([a-z0-9_, ]+)", text) + re.findall(r"开放字段：([a-z0-9_、]+)", text)
    assert lists
    listed = {f for found in lists for f in re.split(r"[,、 ]+", found) if f}
    assert not listed & secret, sorted(listed & secret)


def get(w: World, url: str, **kw):
    assert url.startswith(BASE), url
    return w.api.get(url[len(BASE):], **kw)


# -- DCAT-AP -----------------------------------------------------------------------------


def test_the_dcat_catalogue_has_a_dataset_per_open_category_and_none_other(world):
    g, text = dcat_graph(world)
    cats = open_categories(world)
    ids = {str(g.value(s, DCTERMS.identifier)) for s in g.subjects(RDF.type, DCAT.Dataset)}
    assert ids == set(cats) and len(ids) >= 25
    for not_open in ("ps.camera_registry", "hrss.records", "hc.visits", "ps.criminal_records", "bdb.government_cloud"):
        assert not_open not in ids and not_open not in text
    # the catalogue: published by the city, every dataset in it, under the declared licence
    catalog = g.value(None, RDF.type, DCAT.Catalog)
    assert set(g.objects(catalog, DCAT.dataset)) == set(g.subjects(RDF.type, DCAT.Dataset))
    assert texts(g, catalog, DCTERMS.title) == {"zh": "德州市公共数据开放目录", "en": "Dezhou open data catalogue"}
    city = g.value(catalog, DCTERMS.publisher)
    assert (city, RDF.type, FOAF.Organization) in g and texts(g, city, FOAF.name) == {"zh": "德州市", "en": "Dezhou"}
    assert str(g.value(city, DCTERMS.identifier)) == CITY
    licence = world.lake.decl.catalogue.open_data.licence
    assert g.value(catalog, DCTERMS.license) == URIRef(licence.uri)
    assert (URIRef(licence.uri), RDF.type, DCTERMS.LicenseDocument) in g
    assert set(g.objects(catalog, DCTERMS.language)) == {URIRef(EU + "language/ZHO"), URIRef(EU + "language/ENG")}
    assert_no_secret_field(world, text)
    # a category with personal fields lists exactly its public ones
    practitioners = texts(g, dataset_node(g, "hc.practitioners"), DCTERMS.description)["en"]
    public = [f.name for f in cats["hc.practitioners"].fields if f.sensitivity == "public"]
    assert f"Open fields: {', '.join(public)}." in practitioners and "practitioner_name" not in practitioners


def test_a_dataset_says_who_publishes_it_how_often_where_and_when(world):
    g, _ = dcat_graph(world)
    ds = dataset_node(g, "hc.institutions")
    assert texts(g, ds, DCTERMS.title) == {"zh": "医疗机构名录", "en": "Medical institutions"}
    notes = texts(g, ds, DCTERMS.description)
    assert set(notes) == {"zh", "en"} and "无需令牌" in notes["zh"] and "no token needed" in notes["en"]
    keywords = {(str(k), k.language) for k in g.objects(ds, DCAT.keyword)}
    assert {("医疗机构名录", "zh"), ("Medical institutions", "en"), ("卫生健康委员会", "zh")} <= keywords
    owner = g.value(ds, DCTERMS.publisher)
    assert (owner, RDF.type, FOAF.Organization) in g and (owner, RDF.type, FOAF.Agent) in g
    assert texts(g, owner, FOAF.name) == {"zh": "卫生健康委员会", "en": "Health Commission"}
    assert str(g.value(owner, DCTERMS.identifier)) == "health_commission"
    contact = g.value(ds, DCAT.contactPoint)
    assert (contact, RDF.type, VCARD.Kind) in g and texts(g, contact, VCARD.fn)["zh"] == "大数据局"
    assert g.value(ds, DCTERMS.accrualPeriodicity) == URIRef(EU + "frequency/DAILY")
    assert g.value(ds, DCTERMS.accessRights) == URIRef(EU + "access-right/PUBLIC")
    assert g.value(ds, DCTERMS.license) == URIRef(world.lake.decl.catalogue.open_data.licence.uri)
    # temporal coverage: the lake's earliest and latest as_of
    period = g.value(ds, DCTERMS.temporal)
    lo, hi = world.lake.query("SELECT min(as_of), max(as_of) FROM medical_institutions", ["medical_institutions"])
    assert g.value(period, DCAT.startDate) == Literal(lo[0].as_py().isoformat(), datatype=XSD.date)
    assert g.value(period, DCAT.endDate) == Literal(hi[0].as_py().isoformat(), datatype=XSD.date)
    # spatial coverage by region code: the city, and the counties the rows are in
    codes = {str(g.value(loc, DCTERMS.identifier)) for loc in g.objects(ds, DCTERMS.spatial)}
    counties = {r.as_py() for r in world.lake.query("SELECT DISTINCT region FROM medical_institutions",
                                                    ["medical_institutions"])[0]}
    assert codes == {CITY} | counties and len(counties) == 11
    city = next(loc for loc in g.objects(ds, DCTERMS.spatial) if str(g.value(loc, DCTERMS.identifier)) == CITY)
    assert (city, RDF.type, DCTERMS.Location) in g and texts(g, city, SKOS.prefLabel)["zh"] == "德州市"
    # indicator values are open data too; their time field is a timestamp
    period = g.value(dataset_node(g, "bdb.indicator_values"), DCTERMS.temporal)
    assert g.value(period, DCAT.startDate).datatype == XSD.dateTime
    # update cycles map to the EU frequency table
    expect = {"transit.bus_positions": "UPDATE_CONT", "eco.air_quality": "HOURLY", "mr.serious_violation_list": "WEEKLY",
              "hc.practitioners": "MONTHLY", "edu.schools": "QUARTERLY", "tax.a_grade_taxpayers": "ANNUAL"}
    for cid, code in expect.items():
        assert g.value(dataset_node(g, cid), DCTERMS.accrualPeriodicity) == URIRef(EU + f"frequency/{code}"), cid


def test_every_distribution_url_answers_with_its_media_type(world):
    g, _ = dcat_graph(world)
    ds = dataset_node(g, "hc.institutions")
    dists = list(g.objects(ds, DCAT.distribution))
    by_type = {str(g.value(d, DCAT.mediaType)).rsplit("/media-types/", 1)[1]: d for d in dists}
    assert set(by_type) == {"application/json", "text/csv", "application/vnd.apache.parquet"}
    assert g.value(by_type["application/json"], DCAT.accessURL) == URIRef(
        f"{BASE}/v1/open/datasets/medical_institutions/records")
    assert g.value(by_type["application/json"], DCAT.downloadURL) is None  # a paged API, not a file
    assert g.value(by_type["text/csv"], DCAT.downloadURL) == URIRef(
        f"{BASE}/v1/open/datasets/medical_institutions/export?format=csv")
    assert g.value(by_type["text/csv"], DCTERMS["format"]) == URIRef(EU + "file-type/CSV")
    n = count(world.lake, "SELECT count(*) FROM medical_institutions", ["medical_institutions"])
    r = get(world, str(g.value(by_type["text/csv"], DCAT.downloadURL)))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert pacsv.read_csv(io.BytesIO(r.content)).num_rows == n
    r = get(world, str(g.value(by_type["application/vnd.apache.parquet"], DCAT.downloadURL)))
    assert r.status_code == 200 and pq.read_table(io.BytesIO(r.content)).num_rows == n
    # every access and download URL of the catalogue answers, without a token, in its media type
    urls = 0
    for d in g.subjects(RDF.type, DCAT.Distribution):
        assert (d, DCTERMS.license, None) in g and (d, DCTERMS.title, None) in g
        media = str(g.value(d, DCAT.mediaType)).rsplit("/media-types/", 1)[1]
        for url in {*g.objects(d, DCAT.accessURL), *g.objects(d, DCAT.downloadURL)}:
            r = get(world, str(url))
            assert r.status_code == 200, (url, r.text)
            assert r.headers["content-type"].split(";")[0] == media, url
            urls += 1
    assert urls >= 6


def test_a_conditionally_open_category_says_a_token_is_needed(world, decl):
    admin = auth(token(world.cfg, decl, "metadata-admin", "admin"))
    county = auth(token(world.cfg, decl, "metadata-qihe", "county", QIHE))
    url = f"{CKAN}/package_show"
    cat = world.api.get("/v1/catalog/categories/hc.visits", headers=admin).json()
    body = {k: cat[k] for k in ("id", "name_zh", "name_en", "owner", "share_type", "update_cycle", "credit")}
    body["datasets"] = [d["id"] for d in cat["datasets"]]
    assert world.api.put("/v1/catalog/categories/hc.visits", headers=admin,
                         json={**body, "open_type": "conditional"}).status_code == 200
    try:
        g, text = dcat_graph(world)
        ds = dataset_node(g, "hc.visits")
        assert g.value(ds, DCTERMS.accessRights) == URIRef(EU + "access-right/RESTRICTED")
        assert "需注册客户端的访问令牌" in texts(g, ds, DCTERMS.description)["zh"]
        dists = list(g.objects(ds, DCAT.distribution))
        assert len(dists) == 3
        for d in dists:
            rights = g.value(d, DCTERMS.rights)
            assert (rights, RDF.type, DCTERMS.RightsStatement) in g
            assert "token" in texts(g, rights, RDFS.label)["en"]
            for u in g.objects(d, DCAT.accessURL):
                assert get(world, str(u)).status_code == 401
                assert get(world, str(u), headers=county).status_code == 200
        pkg = world.api.get(url, params={"id": "hc-visits"}).json()["result"]
        assert pkg["isopen"] is False and {"key": "access_rights", "value": EU + "access-right/RESTRICTED"} \
            in pkg["extras"]
        assert {r["rights"] for r in pkg["resources"]} == {"token"}
        assert_no_secret_field(world, text)
    finally:
        assert world.api.put("/v1/catalog/categories/hc.visits", headers=admin,
                             json={**body, "open_type": "not_open"}).status_code == 200
    # no longer open: in neither catalogue
    g, _ = dcat_graph(world)
    assert "hc.visits" not in {str(g.value(s, DCTERMS.identifier)) for s in g.subjects(RDF.type, DCAT.Dataset)}
    assert world.api.get(url, params={"id": "hc-visits"}).status_code == 404


def test_the_catalogue_conforms_to_the_dcat_ap_shapes(world):
    """Validated against the official DCAT-AP 3.0.1 SHACL shapes (SEMICeu/DCAT-AP, vendored
    in ``shapes/``): mandatory properties, cardinalities, ranges and classes."""
    g, _ = dcat_graph(world)
    shapes = Graph().parse(SHAPES)
    conforms, _, report = pyshacl.validate(g, shacl_graph=shapes, inference="none")
    assert conforms, report
    # the shapes do check: a dataset without a title and a distribution without an access URL fail
    ds = dataset_node(g, "hc.institutions")
    dist = next(iter(g.objects(ds, DCAT.distribution)))
    g.remove((ds, DCTERMS.title, None))
    g.remove((dist, DCAT.accessURL, None))
    conforms, results, report = pyshacl.validate(g, shacl_graph=shapes, inference="none")
    assert not conforms
    failed = {(results.value(r, SH.focusNode), results.value(r, SH.resultPath))
              for r in results.subjects(RDF.type, SH.ValidationResult)}
    assert failed == {(ds, DCTERMS.title), (dist, DCAT.accessURL)}, report


def test_links_use_the_configured_public_url(world, decl):
    cfg = world.cfg.model_copy(update={"public_url": "https://data.dezhou.example"})
    with TestClient(create_app(cfg, decl)) as api:
        r = api.get(DCAT_URL)
        pkg = api.get(f"{CKAN}/package_show", params={"id": "hc-institutions"}).json()
    g = Graph().parse(data=r.text, format="json-ld")
    ds = dataset_node(g, "hc.institutions")
    assert str(ds) == "https://data.dezhou.example/v1/open/dcat.jsonld#dataset-hc.institutions"
    assert all(str(u).startswith("https://data.dezhou.example/v1/open/datasets/")
               for d in g.objects(ds, DCAT.distribution) for u in g.objects(d, DCAT.accessURL))
    assert pkg["help"].startswith("https://data.dezhou.example/api/3/action/help_show")
    assert {r["url"] for r in pkg["result"]["resources"]} == {
        "https://data.dezhou.example/v1/open/datasets/medical_institutions/records",
        "https://data.dezhou.example/v1/open/datasets/medical_institutions/export?format=csv",
        "https://data.dezhou.example/v1/open/datasets/medical_institutions/export?format=parquet"}


# -- CKAN --------------------------------------------------------------------------------


def ok(r) -> object:
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"help", "success", "result"} and body["success"] is True
    assert body["help"].startswith(f"{BASE}{CKAN}/help_show?name=")
    return body["result"]


def ckan_error(r, status: int, kind: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"help", "success", "error"} and body["success"] is False
    assert body["error"]["__type"] == kind, body
    return body["error"]


def test_package_list_names_every_open_category(world):
    names = ok(world.api.get(f"{CKAN}/package_list"))
    assert names == sorted(c.replace(".", "-") for c in open_categories(world))
    assert ok(world.api.get(f"{CKAN}/package_list", params={"limit": 3, "offset": 2})) == names[2:5]
    assert all(re.fullmatch(r"[a-z0-9_-]{2,100}", n) for n in names)  # CKAN's name rule
    ckan_error(world.api.get(f"{CKAN}/package_list", params={"limit": "many"}), 409, "Validation Error")


def test_package_show_field_by_field(world):
    pkg = ok(world.api.get(f"{CKAN}/package_show", params={"id": "hc-institutions"}))
    decl = world.lake.decl
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", pkg["id"])
    assert (pkg["name"], pkg["title"], pkg["type"], pkg["state"], pkg["private"]) == (
        "hc-institutions", "医疗机构名录", "dataset", "active", False)
    assert pkg["title_translated"] == {"zh": "医疗机构名录", "en": "Medical institutions"}
    assert "卫生健康委员会" in pkg["notes"] and "Medical institutions" in pkg["notes"]
    org = pkg["organization"]
    assert (org["name"], org["title"], org["type"], org["is_organization"]) == (
        "health-commission", "卫生健康委员会", "organization", True)
    assert pkg["owner_org"] == org["id"]
    lic = decl.catalogue.open_data.licence
    assert (pkg["license_id"], pkg["license_title"], pkg["license_url"], pkg["isopen"]) == (
        lic.id, lic.title, lic.uri, True)
    assert pkg["maintainer"] == "大数据局" and pkg["author"] == "卫生健康委员会"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", pkg["metadata_modified"])  # UTC, as CKAN's
    assert pkg["metadata_created"] <= pkg["metadata_modified"]
    # resources: the records API and the two exports, each answering
    res = {r["format"]: r for r in pkg["resources"]}
    assert set(res) == {"JSON", "CSV", "Parquet"} and pkg["num_resources"] == 3
    assert res["JSON"]["url"] == f"{BASE}/v1/open/datasets/medical_institutions/records"
    assert res["JSON"]["mimetype"] == "application/json" and res["JSON"]["resource_type"] == "api"
    assert res["CSV"]["url"] == f"{BASE}/v1/open/datasets/medical_institutions/export?format=csv"
    assert res["CSV"]["mimetype"] == "text/csv" and res["Parquet"]["mimetype"] == "application/vnd.apache.parquet"
    assert [r["position"] for r in pkg["resources"]] == [0, 1, 2]
    assert all(r["package_id"] == pkg["id"] and r["state"] == "active" for r in pkg["resources"])
    for r in pkg["resources"]:
        assert get(world, r["url"]).status_code == 200, r["url"]
    # tags and extras
    tags = {t["name"] for t in pkg["tags"]}
    assert {"医疗机构名录", "Medical institutions", "卫生健康委员会", "开放数据"} <= tags
    assert pkg["num_tags"] == len(pkg["tags"])
    extras = {e["key"]: e["value"] for e in pkg["extras"]}
    assert [e["key"] for e in pkg["extras"]] == sorted(extras)
    assert all(isinstance(v, str) for v in extras.values())  # CKAN 2 takes string extras only
    assert extras["identifier"] == "hc.institutions"
    assert extras["frequency"] == EU + "frequency/DAILY" and extras["update_cycle"] == "daily"
    assert extras["access_rights"] == EU + "access-right/PUBLIC"
    assert extras["uri"] == f"{BASE}{DCAT_URL}#dataset-hc.institutions"
    assert extras["temporal_start"] == extras["temporal_end"] == "2026-11-22"
    assert extras["region_codes"].split(",")[0] == CITY and len(extras["region_codes"].split(",")) == 12
    public = {f.name for f in decl.contract("medical_institutions").fields if f.sensitivity == "public"}
    assert set(extras["public_fields"].split(",")) == public
    # the same package by its id and by the category's id
    assert ok(world.api.get(f"{CKAN}/package_show", params={"id": pkg["id"]})) == pkg
    assert ok(world.api.get(f"{CKAN}/package_show", params={"id": "hc.institutions"})) == pkg
    # as ckanapi asks: a POST with a JSON body, and the unversioned path
    assert ok(world.api.post(f"{CKAN}/package_show", json={"id": "hc-institutions"})) == pkg
    assert ok(world.api.get("/api/action/package_show", params={"id": "hc-institutions"})) == pkg


def test_ckan_errors_are_ckan_errors(world):
    e = ckan_error(world.api.get(f"{CKAN}/package_show", params={"id": "no-such-package"}), 404, "Not Found Error")
    assert e["message"].startswith("Not found")
    # a category that exists but is not open is not found either
    ckan_error(world.api.get(f"{CKAN}/package_show", params={"id": "ps-camera_registry"}), 404, "Not Found Error")
    e = ckan_error(world.api.get(f"{CKAN}/package_show"), 409, "Validation Error")
    assert e["name_or_id"] == ["Missing value"]
    e = ckan_error(world.api.get(f"{CKAN}/package_search", params={"rows": "ten"}), 409, "Validation Error")
    assert e["rows"] == ["Invalid integer"]
    ckan_error(world.api.get(f"{CKAN}/package_search", params={"start": "-1"}), 409, "Validation Error")
    ckan_error(world.api.get(f"{CKAN}/package_search", params={"sort": "colour asc"}), 409, "Search Query Error")
    ckan_error(world.api.get(f"{CKAN}/package_search", params={"fq": "colour:red"}), 409, "Search Query Error")
    ckan_error(world.api.post(f"{CKAN}/package_search", content=b"{not json",
                              headers={"content-type": "application/json"}), 400, "Bad Request")
    e = ckan_error(world.api.get(f"{CKAN}/group_list"), 400, "Bad Request")
    assert "group_list" in e["message"]
    assert "rows" in ok(world.api.get(f"{CKAN}/help_show", params={"name": "package_search"}))
    ckan_error(world.api.get(f"{CKAN}/help_show", params={"name": "group_list"}), 404, "Not Found Error")


def test_package_search_pages_as_harvesters_page(world):
    url = f"{CKAN}/package_search"
    everything = ok(world.api.get(url, params={"rows": 1000}))
    n = everything["count"]
    assert n == len(open_categories(world)) == len(everything["results"])
    assert everything["sort"] == "score desc, metadata_modified desc"
    assert set(everything) >= {"count", "results", "sort", "facets", "search_facets"}
    # ckanext-harvest's loop: rows=100 sorted by id, start += rows until a page comes back empty
    seen, start, pages = [], 0, 0
    while True:
        page = ok(world.api.get(url, params={"rows": 7, "start": start, "sort": "id asc"}))
        assert page["count"] == n
        if not page["results"]:
            break
        seen += page["results"]
        start += 7
        pages += 1
    assert pages == -(-n // 7) and len(seen) == n
    assert [p["id"] for p in seen] == sorted(p["id"] for p in everything["results"])
    assert len({p["id"] for p in seen}) == n
    assert ok(world.api.get(url, params={"rows": 5, "start": n}))["results"] == []
    assert len(ok(world.api.get(url))["results"]) == 10  # CKAN's default page
    assert len(ok(world.api.get(url, params={"rows": 5000}))["results"]) == n  # capped at 1000, all fit
    by_name = ok(world.api.get(url, params={"rows": 1000, "sort": "name desc"}))["results"]
    assert [p["name"] for p in by_name] == sorted((p["name"] for p in seen), reverse=True)
    # a package in a search is the package package_show gives
    show = ok(world.api.get(f"{CKAN}/package_show", params={"id": "edu-schools"}))
    assert next(p for p in seen if p["name"] == "edu-schools") == show


def test_package_search_filters_as_harvesters_filter(world):
    url = f"{CKAN}/package_search"

    def names(**params) -> set[str]:
        result = ok(world.api.get(url, params={"rows": 1000, **params}))
        assert result["count"] == len(result["results"])
        return {p["name"] for p in result["results"]}

    everything = names()
    credit = {c.replace(".", "-") for c, cat in open_categories(world).items() if cat.credit}
    assert names(q="公共信用信息") == credit and len(credit) >= 10
    assert names(q="医疗机构") == {"hc-institutions"}
    assert names(q="Medical institutions") == {"hc-institutions"}
    assert names(q="*:*") == everything
    # organisation filters, as organizations_filter_include / _exclude send them
    tax = {n for n in everything if n.startswith("tax-")}
    assert names(fq="organization:tax") == tax and len(tax) == 2
    assert names(fq="organization:tax OR organization:health-commission") == tax | {"hc-institutions", "hc-practitioners"}
    assert names(fq="-organization:tax") == everything - tax
    assert names(fq="-organization:tax -organization:market-regulation") == {
        n for n in everything - tax if not n.startswith("mr-")}
    assert names(fq="res_format:CSV") == {"hc-institutions", "bdb-indicator_values", "transit-stop_boards"}
    assert names(fq='tags:"开放数据"') == everything
    assert names(q="organization:tax A级") == {"tax-a_grade_taxpayers"}
    # the incremental harvest: modified since the last run (UTC)
    pkg = ok(world.api.get(f"{CKAN}/package_show", params={"id": "hc-institutions"}))
    since = pkg["metadata_modified"][:19]
    assert "hc-institutions" in names(fq=f"metadata_modified:[{since}Z TO *]")
    assert names(fq="metadata_modified:[2999-01-01T00:00:00Z TO *]") == set()
    assert names(fq="metadata_modified:[* TO 1999-01-01T00:00:00Z]") == set()
    # POST with a JSON body, as ckanapi sends it
    r = world.api.post(url, json={"fq": "organization:tax", "rows": 1000})
    assert {p["name"] for p in ok(r)["results"]} == tax
    assert_no_secret_field(world, world.api.get(url, params={"rows": 1000}).text)


def test_metadata_reads_are_audited(world):
    world.api.get(DCAT_URL)
    world.api.get(f"{CKAN}/package_show", params={"id": "hc-institutions"})
    world.api.get(f"{CKAN}/package_show", params={"id": "nothing-here"})
    world.api.get(f"{CKAN}/package_search", params={"q": "371425198001011234", "rows": 3})
    dcat = audit.search(world.cfg, action="open.dcat", limit=1)[0]
    assert dcat["status"] == 200 and dcat["rows"] == len(open_categories(world)) and dcat["client_id"] is None
    shown, missing = audit.search(world.cfg, action="open.ckan.package_show", limit=2)[::-1]
    assert (shown["category"], shown["status"], shown["rows"]) == ("hc.institutions", 200, 1)
    assert (missing["status"], missing["filters"]) == (404, {"id": "nothing-here"})
    searched = audit.search(world.cfg, action="open.ckan.package_search", limit=1)[0]
    assert searched["filters"] == {"q": "37**************34", "rows": "3"}  # an ID number typed in is masked
    # a token, where one is sent, names the caller
    tok = token(world.cfg, world.lake.decl, "metadata-harvester", "county", QIHE)
    world.api.get(f"{CKAN}/package_list", headers=auth(tok))
    listed = audit.search(world.cfg, action="open.ckan.package_list", limit=1)[0]
    assert listed["client_name"] == "metadata-harvester" and listed["rows"] == len(open_categories(world))
