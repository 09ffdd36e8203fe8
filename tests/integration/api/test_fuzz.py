"""Property-based fuzzing of the API with schemathesis, in-process: the app the
factory builds, called as an ASGI application (``schemathesis.openapi.from_asgi``).

Every operation of its ``/openapi.json`` gets schema-valid and schema-invalid
inputs (schemathesis' positive and negative modes), sent with an admin token so
the authenticated paths run, and the data operations again with a county token
(scoping). Generated path parameters are mostly swapped for real ones (datasets,
categories, departments, grants, indicator codes) so the requests get past the
404s, and the data operations also get what the schema cannot declare: filters on
the contract's fields (``field=op:value``, timestamps with zones, huge numbers),
field lists with repeats, and forged cursors.

Checked: no server error on any request; answers conform to the schema where it
documents them (content types, response bodies and headers for the documented
status codes). Bounded and deterministic: derandomized, ``MAX_EXAMPLES`` per
operation, well under two minutes.
"""
from __future__ import annotations

import base64
import json

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis.checks import CHECKS
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import checks as _openapi_checks  # noqa: F401 - registers the OpenAPI checks

from cityhub.access import catalogue
from cityhub.pipelines.indicators.engine import compute
from cityhub.read.filters import OPS
from tests.integration.api.world import DAY, QIHE, land_cameras
from tests.support import auth, token

COUNTY = QIHE
MAX_EXAMPLES = 25
COUNTY_EXAMPLES = 15
CHECK_NAMES = (
    "not_a_server_error",
    # conformance to what the schema documents: every status it answers with (problem+json
    # ones included), its content types, bodies and headers
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
FULL = ("camera_status", "camera_catalog", "indicator_values")
"""Datasets whose data operations get the boundary sweep and the full number of examples
(rows landed, every field type); the others, served by the same code with other
contracts, get ``DATA_EXAMPLES`` each (schemas derived from their contracts)."""
DATA_EXAMPLES = 5


def _dataset_of(op) -> str | None:
    """The dataset a data operation serves (one operation per dataset and route), else None."""
    parts = op.path.strip("/").split("/")
    if parts[:2] == ["v1", "datasets"] or parts[:3] == ["v1", "open", "datasets"]:
        return parts[-2]
    return None


def _checks():
    found = {c.__name__: c for c in CHECKS.get_all()}
    return [found[n] for n in CHECK_NAMES]


@pytest.fixture
def landed(lake, api):
    """The in-process app, with a day of the camera platform landed and the indicators computed."""
    land_cameras(lake, per_county=8, key_areas=2)
    compute(lake, DAY)
    return api


def _indicator_codes(decl) -> list[str]:
    out = []
    for ind in decl.indicators.values():
        out.append(ind.code)
        out.extend(c.code for c in ind.components)
    return out


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


_json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                       max_size=3), max_leaves=6)
_stamp = st.builds(lambda d, zone: d.isoformat() + zone,
                   st.datetimes(), st.sampled_from(["", "", "Z", "+08:00", "-05:00", "+14:00", "-12:00"]))
_value = st.one_of(st.text(max_size=12), st.integers().map(str), st.integers(min_value=2**63 - 2).map(str),
                   st.floats().map(str), st.dates().map(str), _stamp, st.sampled_from(["true", "ON", "OFF", COUNTY]))


def _data_params(decl, dataset: str):
    """Query parameters the schema cannot declare: filters, field lists, forged cursors."""
    c = decl.contracts.get(dataset)
    names = [f.name for f in c.fields] if c else ["event_id"]
    filt = st.tuples(st.one_of(st.sampled_from(names), st.sampled_from(names), st.text(max_size=6)),
                     st.sampled_from([*OPS, "in", "xx", ""]),
                     st.one_of(_value, st.lists(_value, min_size=0, max_size=4).map(",".join)))
    filters = st.one_of(st.just([]), st.lists(filt, max_size=3)).map(
        lambda fs: {n: (f"{op}:{v}" if op else v) for n, op, v in fs})
    fields = st.lists(st.sampled_from(names) | st.text(max_size=5), max_size=4).map(",".join)
    forged = st.fixed_dictionaries({"s": st.none() | st.integers(), "k": _json_values},
                                   optional={"d": _json_values, "f": _json_values, "t": _json_values}).map(_b64)
    return st.tuples(filters, st.none() | fields, st.none() | st.none() | forged)


_EDGE = {
    "integer": [0, -1, 2**31, 2**63 - 1, 2**63, 2**64, 10**30],
    "date-time": ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2026-11-22T00:00:00Z",
                  "2026-11-22T08:00:00+08:00", "2026-11-22T00:00:00.999999"],
    "string": ["", "\x00", "'", '"', "é", "\u202e", "a" * 300, "%", "*", "../"],
}


_FILTER_EDGE = {
    "timestamp": ["2026-11-22T08:00:00+08:00", "2026-11-22T00:00:00Z", "0001-01-01T00:00:00+14:00",
                  "9999-12-31T23:59:59-12:00", "9999-12-31T23:59:59.999999", "2026-11-22"],
    "date": ["0001-01-01", "9999-12-31", "2026-11-22T10:00:00", "20261122"],
    "string": ["", "\x00", "'", "%", str(2**64)],
}


def _kind(schema: dict) -> str | None:
    for s in [schema, *schema.get("anyOf", ())]:
        if s.get("format") == "date-time":
            return "date-time"
        if s.get("type") in ("integer", "string"):
            return s["type"]
    return None


def _edges(op):
    """Now and then, a boundary value for a query parameter the schema allows
    (huge integers, extreme time zones and years, odd strings)."""
    params = [(p.name, _kind(p.definition.get("schema", {}))) for p in op.query]
    params = [(n, k) for n, k in params if k]
    if not params:
        return st.just({})
    return st.lists(st.sampled_from(params), max_size=2, unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({n: st.sampled_from(_EDGE[k]) for n, k in chosen}))


def _send(case, label: str, role: str, token: str, checks: list, found: dict, seen: dict,
          sweep: bool = False) -> None:
    """Send one case; record failing requests per (operation, role, check, status,
    query parameter names) without raising, so one failure does not hide another
    (generated ones: the first 3 per operation, role, check and status)."""
    headers = {"Authorization": f"Bearer {token}"}
    curl = case.as_curl_command(headers={"Authorization": f"Bearer <{role} token>"})
    try:
        response = case.call(headers=headers, timeout=60)
    except Exception as e:  # noqa: BLE001 - a dropped connection is a server failure too
        found.setdefault((label, "transport", type(e).__name__, ""), f"{curl}\n    -> {type(e).__name__}: {e}")
        return
    seen.setdefault(label, {}).setdefault(response.status_code, 0)
    seen[label][response.status_code] += 1
    for check in checks:
        try:
            case.validate_response(response, checks=[check], headers=headers)
        except BaseExceptionGroup as e:  # schemathesis' FailureGroup
            why = "; ".join(str(getattr(x, "title", x)) for x in e.exceptions)
            key = (label, check.__name__, response.status_code)
            names = ",".join(sorted(case.query)) if isinstance(case.query, dict) else "-"
            if (*key, names) not in found and (sweep or sum(k[:3] == key for k in found) < 3):
                found[(*key, names)] = f"{curl}\n    -> {response.status_code} {why}: {response.text[:300]!r}"


def _sweep(decl, op, role: str, token: str, real: dict, found: dict, seen: dict) -> None:
    """Deterministically, each boundary value for each query parameter the schema
    allows, one at a time, on real path parameters (hypothesis may not reach them
    within a few dozen examples)."""
    path = {name: real[name][0] for name in (p.name for p in op.path_parameters) if real.get(name)}
    queries = [{p.name: v} for p in op.query for v in _EDGE.get(_kind(p.definition.get("schema", {})) or "", ())]
    dataset = _dataset_of(op)
    if dataset:
        c = decl.contract(dataset)
        first, second = c.key[0], c.fields[-1].name
        queries += [{"fields": f"{first},{first}"}, {"fields": f"{first},{second},{first}"}, {"format": "csv"},
                    {"format": "arrow"}]
        if dataset in ("camera_status", "camera_catalog"):
            queries += [{f.name: f"{o}:{v}"} for f in c.fields if f.filterable for o in ("eq", "ge", "in")
                        for v in _FILTER_EDGE.get(f.type, _FILTER_EDGE["string"])]
    checks = _checks()
    for q in queries:
        _send(op.Case(path_parameters=path or None, query=q), f"{op.label} as {role}", role, token, checks,
              found, seen, sweep=True)


def _fuzz_operation(decl, op, role: str, token: str, examples: int, real: dict, found: dict,
                    seen: dict) -> None:
    """Run ``examples`` generated requests (see ``_send``)."""
    names = [p.name for p in op.path_parameters]
    dataset = _dataset_of(op)
    checks = _checks()
    label = f"{op.label} as {role}"
    positive = op.as_strategy(generation_mode=GenerationMode.POSITIVE)

    @hypothesis.settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck), print_blob=False,
                         phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
    @given(case=st.one_of(positive, positive, op.as_strategy(generation_mode=GenerationMode.NEGATIVE)),
           edges=st.one_of(st.just({}), _edges(op)), data=st.data())
    def fuzz(case, edges, data):
        for name in names:  # mostly real values, sometimes what was generated
            if real.get(name) and data.draw(st.integers(0, 4), label=f"real {name}"):
                case.path_parameters = {**(case.path_parameters or {}),
                                        name: data.draw(st.sampled_from(real[name]), label=name)}
        if edges and isinstance(case.query, dict | None):
            case.query = {**(case.query or {}), **edges}
        if dataset and isinstance(case.query, dict | None):
            filters, fields, forged = data.draw(_data_params(decl, dataset), label="filters, fields, cursor")
            query = {**(case.query or {}), **filters}
            if fields is not None:
                query["fields"] = fields
            if forged is not None:
                query["since" if op.path.endswith("/changes") else "cursor"] = forged
            case.query = query
        _send(case, label, role, token, checks, found, seen)

    fuzz()


def test_no_operation_fails_under_fuzzing(landed, cfg, decl):
    api = landed
    tokens = {"admin": token(cfg, decl, "fuzz-admin", "admin"),
              "county": token(cfg, decl, "fuzz-county", "county", COUNTY)}

    # a pending grant so the grant operations have one to find (a conditional category)
    cat = catalogue.current(cfg, decl)
    conditional = next(c.id for c in cat.categories.values() if c.share_type == "conditional")
    r = api.post("/v1/grants", headers=auth(tokens["county"]),
                 json={"category": conditional, "purpose": "fuzzing the grant operations", "days": 7})
    assert r.status_code == 201, r.text
    real = {
        "category_id": sorted(cat.categories),
        "department_id": sorted(cat.departments),
        "grant_id": [r.json()["id"]],
        "code": _indicator_codes(decl),
    }

    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    found: dict[tuple, str] = {}
    seen: dict[str, dict[int, int]] = {}
    for result in schema.get_all_operations():
        op = result.ok()
        dataset = _dataset_of(op)
        full = dataset in (None, *FULL)
        if full:
            _sweep(decl, op, "admin", tokens["admin"], real, found, seen)
        _fuzz_operation(decl, op, "admin", tokens["admin"], MAX_EXAMPLES if full else DATA_EXAMPLES, real, found,
                        seen)
        if dataset:
            _fuzz_operation(decl, op, "county", tokens["county"], COUNTY_EXAMPLES if full else DATA_EXAMPLES, real,
                            found, seen)
    for label, statuses in seen.items():
        print(f"{label}: {dict(sorted(statuses.items()))}")
    assert len(seen) >= 20, seen
    assert not found, f"{len(found)} failure(s) ((operation, check, status, query parameters): a request):\n\n" + \
        "\n\n".join(f"{k}:\n    {v}" for k, v in sorted(found.items(), key=str))


@hypothesis.settings(max_examples=12, derandomize=True, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))
@given(minute=st.integers(0, 24 * 60 - 1), zone=st.sampled_from([8 * 60, 0, -5 * 60, 5 * 60 + 30, 14 * 60]),
       op=st.sampled_from(["lt", "ge"]))
def _same_instant(client, token: str, minute: int, zone: int, op: str) -> None:
    from datetime import datetime, timedelta, timezone

    cst = datetime(2026, 11, 22) + timedelta(minutes=minute)  # what the lake stores: CST, no zone
    zoned = cst.replace(tzinfo=timezone(timedelta(hours=8))).astimezone(timezone(timedelta(minutes=zone)))

    def ids(stamp: str) -> set:
        r = client.get("/v1/datasets/camera_status/records", headers={"Authorization": f"Bearer {token}"},
                       params={"event_time": f"{op}:{stamp}", "limit": 10_000, "fields": "event_id"})
        assert r.status_code == 200, r.text
        return {x["event_id"] for x in r.json()["records"]}

    assert ids(zoned.isoformat()) == ids(cst.isoformat()), \
        f"event_time={op}:{zoned.isoformat()} does not select the rows of {op}:{cst.isoformat()} (CST)"


def test_a_time_filter_with_a_zone_means_the_same_instant(landed, cfg, decl):
    """``event_time=lt:2026-11-22T00:00:00Z`` is 08:00 China Standard Time, which is
    how the lake stores times: a zoned filter value must be converted, not dropped."""
    _same_instant(landed, token(cfg, decl, "fuzz-zones", "admin"))
