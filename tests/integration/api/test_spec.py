"""``/openapi.json`` as other teams generate clients from it: a valid OpenAPI document
(``openapi-spec-validator``), with OAuth2 client credentials pointing at ``/v1/token``,
open data declared without a required token, and each dataset's operations typed from
its contract: its record's fields and types, its filters as query parameters, its
formats and cursors, and the problem+json answers (never FastAPI's 422, which the API
does not give). Answers conforming to it: ``test_fuzz.py``, ``test_typed_routes.py``."""
from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from cityhub.access import catalogue
from cityhub.declarations.fieldtypes import FIELD_TYPES
from cityhub.read.filters import RESERVED
from tests.support import auth, token


@pytest.fixture
def spec(api) -> dict:
    r = api.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_the_spec_is_a_valid_openapi_document(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_tokens_come_from_the_client_credentials_flow(spec):
    schemes = spec["components"]["securitySchemes"]
    assert list(schemes) == ["ClientCredentials"]
    flow = schemes["ClientCredentials"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/v1/token" and schemes["ClientCredentials"]["type"] == "oauth2"
    assert "cityhub clients create" in schemes["ClientCredentials"]["description"]
    assert spec["paths"]["/v1/datasets/camera_status/records"]["get"]["security"] == [{"ClientCredentials": []}]
    assert "security" not in spec["paths"]["/v1/token"]["post"]
    token_op = spec["paths"]["/v1/token"]["post"]
    body = _resolve(spec, token_op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"])
    assert {"grant_type", "client_id", "client_secret"} <= set(body["properties"])
    answer = _resolve(spec, token_op["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"access_token", "token_type", "expires_in"} <= set(answer["properties"])


def test_open_data_needs_no_token_and_takes_one(spec):
    open_ops = [(p, op) for p, m, op in _operations(spec) if p.startswith(("/v1/open/", "/api/3/action/"))]
    assert len(open_ops) >= 10
    for path, op in open_ops:
        if path.endswith("/help_show"):  # reads no data: no token taken either
            assert "security" not in op
        else:
            assert op.get("security") == [{}, {"ClientCredentials": []}], path
    assert "security" not in spec["paths"]["/.well-known/jwks.json"]["get"]


def test_no_operation_declares_422_and_every_one_declares_its_problems(spec):
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    for path, method, op in _operations(spec):
        codes = set(op["responses"])
        assert "422" not in codes, (method, path)
        assert codes & {"200", "201", "204"}, (method, path)
        if op.get("security") == [{"ClientCredentials": []}]:  # a token is required: 401 is declared
            assert "401" in codes, (method, path)
            entry = op["responses"]["401"]
            assert entry["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
            assert "WWW-Authenticate" in entry["headers"]


@pytest.mark.parametrize("dataset", ["camera_status", "camera_catalog", "medical_visits", "social_security_records"])
def test_each_dataset_is_typed_from_its_contract(spec, decl, dataset):
    c = decl.contract(dataset)
    records = spec["paths"][f"/v1/datasets/{dataset}/records"]["get"]
    page = _resolve(spec, records["responses"]["200"]["content"]["application/json"]["schema"])
    assert page["properties"]["dataset"]["const"] == dataset
    record = _resolve(spec, page["properties"]["records"]["items"])
    assert list(record["properties"]) == [f.name for f in c.fields]
    assert not record.get("required")  # fields= projects: every field may be absent
    for f in c.fields:
        s = record["properties"][f.name]
        kinds = [x.get("type") for x in s.get("anyOf", [s])]
        assert FIELD_TYPES[f.type].json_schema["type"] in kinds, f.name
        assert ("null" in kinds) == f.nullable, f.name
    # the contract's filterable fields are query parameters; so are format, cursor and the rest
    params = {p["name"]: p for p in records["parameters"]}
    filterable = {f.name for f in c.fields if f.filterable and f.name not in RESERVED}
    assert filterable <= set(params) and {"region", "limit", "cursor", "fields", "order", "sort", "format"} <= set(params)
    assert not {f.name for f in c.fields if not f.filterable} - RESERVED & set(params)
    for name in filterable:
        assert params[name]["schema"]["type"] == "array" and params[name]["explode"] is True
    assert set(records["responses"]["200"]["content"]) == {"application/json", "text/csv",
                                                           "application/vnd.apache.arrow.stream"}
    assert {"X-Snapshot-Id", "X-Has-More", "X-Next-Cursor", "X-Key"} <= set(records["responses"]["200"]["headers"])
    assert {"400", "401", "403", "404", "406", "410", "429"} <= set(records["responses"])
    # changes: upserts typed as records, tombstones as the key's fields
    changes = spec["paths"][f"/v1/datasets/{dataset}/changes"]["get"]
    sync = _resolve(spec, changes["responses"]["200"]["content"]["application/json"]["schema"])
    assert "since" in {p["name"] for p in changes["parameters"]}
    tombstone = _resolve(spec, sync["properties"]["deleted"]["items"])
    assert list(tombstone["properties"]) == list(c.key) == tombstone["required"]
    assert _resolve(spec, sync["properties"]["records"]["items"]) == record
    export = spec["paths"][f"/v1/datasets/{dataset}/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"application/vnd.apache.parquet",
                                                          "application/vnd.apache.arrow.stream", "text/csv"}


def test_open_datasets_declare_public_fields_only(spec, decl):
    c = decl.contract("medical_institutions")
    op = spec["paths"]["/v1/open/datasets/medical_institutions/records"]["get"]
    page = _resolve(spec, op["responses"]["200"]["content"]["application/json"]["schema"])
    record = _resolve(spec, page["properties"]["records"]["items"])
    assert list(record["properties"]) == [f.name for f in c.fields if f.sensitivity == "public"]
    filters = {p["name"] for p in op["parameters"]} - {"region", "limit", "cursor", "fields"}
    assert filters == {f.name for f in c.fields if f.filterable and f.sensitivity == "public"} - RESERVED
    assert "/v1/open/datasets/social_security_records/records" not in spec["paths"]  # not open


def test_a_dataset_the_catalogue_serves_later_is_served_though_not_described(api, cfg, decl, spec):
    """The spec describes the catalogue as the app started; the routes follow the
    catalogue per request (a category opened later is served by name)."""
    declared = decl.catalogue.categories["hrss.records"]
    catalogue.put_category(cfg, decl, declared.model_copy(update={"open_type": "conditional",
                                                                  "share_type": "unconditional"}), by="test")
    r = api.get("/v1/open/datasets/social_security_records/records",
                headers=auth(token(cfg, decl, "later", "county", "371425")))
    assert r.status_code == 200, r.text
    assert r.json()["dataset"] == "social_security_records"
    r = api.get("/v1/datasets/no_such_dataset/records", headers=auth(token(cfg, decl, "later2", "admin")))
    assert r.status_code == 404 and "no dataset" in r.json()["detail"]


def test_a_filter_typed_in_the_spec_is_refused_with_a_400_when_its_value_is_not_of_the_type(api, cfg, decl, spec):
    params = {p["name"]: p for p in spec["paths"]["/v1/datasets/camera_catalog/records"]["get"]["parameters"]}
    assert "as_of" in params and "pattern" in params["as_of"]["schema"]["items"]
    r = api.get("/v1/datasets/camera_catalog/records", params={"as_of": "ge:yesterday"},
                headers=auth(token(cfg, decl, "typed", "admin")))
    assert r.status_code == 400 and "as_of" in r.json()["detail"]
