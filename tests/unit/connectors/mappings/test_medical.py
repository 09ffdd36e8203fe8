"""Organizations as regional health platforms write them: identifier systems named per
connector, and levels or flags sent as codes (valueCoding, valueCodeableConcept)."""
from __future__ import annotations

from cityhub.connectors.mappings.medical import organizations

USCC = "91371400MA3C4K8X2R"


def org(**over) -> dict:
    return {"resourceType": "Organization", "id": "o1", "name": "德州市第二人民医院", "active": True,
            "identifier": [{"system": "urn:cn:uscc", "value": USCC}],
            "type": [{"coding": [{"code": "A100"}]}],
            "address": [{"extension": [{"url": "https://cityhub.example/fhir/region-code", "valueString": "371402"}]}],
            "extension": [{"url": "https://cityhub.example/fhir/hospital-level", "valueString": "3A"},
                          {"url": "https://cityhub.example/fhir/platform-networked", "valueBoolean": True}],
            **over}


def with_systems(decl, *systems):
    spec = decl.connector("medical_institutions_drop")
    return spec.model_copy(update={"format": spec.format.model_copy(update={"identifiers": {"uscc": list(systems)}})})


def test_the_declared_identifier_systems_say_which_identifier_is_the_uscc(decl):
    other = org(identifier=[{"system": "https://github.com/synthetichealth/synthea", "value": "0454c314"},
                            {"system": "urn:oid:2.16.156.10011.1.1", "value": USCC}])
    assert decl.connector("medical_institutions_drop").format.identifiers == {"uscc": ["urn:cn:uscc"]}
    [row] = organizations([other], decl.connector("medical_institutions_drop"))
    assert row["uscc"] is None  # not a system this connector declares: the row's rules refuse it
    [row] = organizations([other], with_systems(decl, "urn:cn:uscc", "urn:oid:2.16.156.10011.1.1"))
    assert row["uscc"] == USCC


def test_coded_extensions_give_their_code(decl):
    spec = decl.connector("medical_institutions_drop")
    coded = org(extension=[
        {"url": "https://cityhub.example/fhir/hospital-level",
         "valueCodeableConcept": {"coding": [{"system": "urn:cn:hospital-level", "code": "3A", "display": "三级甲等"}],
                                  "text": "三级甲等"}},
        {"url": "https://cityhub.example/fhir/platform-networked", "valueBoolean": False}])
    [row] = organizations([coded], spec)
    assert (row["level"], row["networked"]) == ("3A", False)
    text_only = org(extension=[{"url": "x/hospital-level", "valueCodeableConcept": {"text": "二级"}}])
    assert organizations([text_only], spec)[0]["level"] == "二级"
    coding = org(extension=[{"url": "x/hospital-level", "valueCoding": {"system": "s", "code": "2B"}}])
    assert organizations([coding], spec)[0]["level"] == "2B"
    [row] = organizations([org()], spec)
    assert (row["uscc"], row["level"], row["region"], row["networked"]) == (USCC, "3A", "371402", True)
