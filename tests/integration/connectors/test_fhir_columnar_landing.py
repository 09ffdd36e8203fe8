"""A FHIR delivery the columnar path cannot read exactly (a value whose type changed
between resources) is read as dicts and lands right: the changed row is quarantined with
its drift reason and raw resource, the rest lands."""
from __future__ import annotations

import json

from cityhub.connectors.sources import file_drop
from cityhub.core.identifiers import uscc_check_char
from cityhub.pipelines.ingest.runner import run


def organization(i: int, uscc: str, **over) -> dict:
    return {"resourceType": "Organization", "id": f"o{i}", "name": f"医院{i}", "active": True,
            "identifier": [{"system": "urn:cn:uscc", "value": uscc}],
            "type": [{"coding": [{"code": "general_hospital"}]}],
            "address": [{"extension": [{"url": "https://cityhub.example/fhir/region-code", "valueCode": "371402"}]}],
            "extension": [{"url": "https://cityhub.example/fhir/hospital-level", "valueCode": "3"},
                          {"url": "https://cityhub.example/fhir/platform-networked", "valueBoolean": True}], **over}


def test_a_type_conflicting_delivery_lands_through_the_dict_path(lake):
    spec = lake.decl.connector("medical_institutions_drop")
    where = file_drop.folder(spec, lake.cfg)
    where.mkdir(parents=True, exist_ok=True)
    uscc = [f"{body}{uscc_check_char(body)}" for body in ("91371400MA3C4K8X2", "91371402MA3C4K8X3")]
    changed = organization(2, uscc[1], active="是")  # boolean declared: a type change, quarantined
    entries = [{"resource": organization(1, uscc[0])}, {"resource": changed}]
    (where / "organizations_371400_20261122_b0001.json").write_text(
        json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": entries}, ensure_ascii=False), "utf-8")
    report = run(lake, spec.name)
    assert (report.landed, report.quarantined) == (1, 1)
    assert lake.query("SELECT uscc FROM medical_institutions", ["medical_institutions"])["uscc"].to_pylist() == [uscc[0]]
    [item] = lake.query("SELECT reason, raw FROM quarantine", ["quarantine"]).to_pylist()
    assert "schema_drift: field 'active' is string ('是') where boolean is declared" in item["reason"]
    assert json.loads(item["raw"]) == changed
