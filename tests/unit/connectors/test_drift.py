"""Schema drift against the source fields a connector declares, per its policy."""
from __future__ import annotations

import pytest

from cityhub.connectors.drift import DriftFindings, check_header, check_records
from cityhub.declarations.connectors import ConnectorSpec


def spec(**drift) -> ConnectorSpec:
    return ConnectorSpec.model_validate({
        "name": "signals_drop", "dataset": "traffic_intersections",
        "source": {"kind": "file_drop"}, "format": {"kind": "json"},
        "fields": {"id": "string", "signalised": "boolean", "lanes": "integer", "tags": "any"},
        "drift": drift,
    })


GOOD = {"id": "A1", "signalised": True, "lanes": 4, "tags": ["x"]}


def test_records_as_declared_are_no_drift():
    found, reasons = check_records(spec(), [GOOD, {**GOOD, "lanes": None, "tags": "anything"}])
    assert not found and reasons == {}


def test_a_new_field_is_reported_and_the_row_lands_by_default():
    found, reasons = check_records(spec(), [GOOD, {**GOOD, "detector_count": 2}, {**GOOD, "detector_count": 3}])
    assert found and found.new_fields == {"detector_count": 2}
    assert reasons == {}


def test_a_new_field_refuses_the_row_when_the_policy_says_so():
    found, reasons = check_records(spec(new_field="quarantine"), [GOOD, {**GOOD, "detector_count": 2}])
    assert found.new_fields == {"detector_count": 1}
    assert reasons == {1: ["schema_drift: new field 'detector_count'"]}


@pytest.mark.parametrize("policy, refused", [("report", {}),
                                             ("quarantine", {0: ["schema_drift: field 'lanes' is missing"]})])
def test_a_missing_field_is_reported_and_refused_per_policy(policy, refused):
    row = {k: v for k, v in GOOD.items() if k != "lanes"}
    found, reasons = check_records(spec(missing_field=policy), [row, GOOD])
    assert found.missing_fields == {"lanes": 1}
    assert reasons == refused


def test_a_changed_type_quarantines_the_row_with_the_reason():
    rows = [GOOD, {**GOOD, "signalised": "是"}, {**GOOD, "lanes": True}, {**GOOD, "lanes": 2.5}]
    found, reasons = check_records(spec(), rows)
    assert found.type_changes == {"signalised: boolean -> string": 1, "lanes: integer -> boolean": 1,
                                  "lanes: integer -> number": 1}
    assert reasons == {
        1: ["schema_drift: field 'signalised' is string ('是') where boolean is declared"],
        2: ["schema_drift: field 'lanes' is boolean ('true') where integer is declared"],
        3: ["schema_drift: field 'lanes' is number ('2.5') where integer is declared"],
    }


def test_a_changed_type_only_reported_when_the_policy_says_so():
    found, reasons = check_records(spec(type_change="report"), [{**GOOD, "signalised": "是"}])
    assert found.type_changes == {"signalised: boolean -> string": 1} and reasons == {}


def test_a_header_reports_new_and_missing_fields_for_every_row_of_its_file():
    header = ["id", "signalised", "tags", "detector_count"]
    found, reasons = check_header(spec(), [(header, 0, 3), (["id", "signalised", "lanes", "tags"], 3, 2)])
    assert found.new_fields == {"detector_count": 3} and found.missing_fields == {"lanes": 3}
    assert reasons == {}
    _, reasons = check_header(spec(missing_field="quarantine"), [(header, 0, 3), (list(GOOD), 3, 2)])
    assert reasons == {i: ["schema_drift: missing field(s) ['lanes']"] for i in range(3)}


def test_findings_add_up_and_say_what_they_found():
    a, _ = check_records(spec(), [{**GOOD, "x": 1}])
    b, _ = check_records(spec(), [{**GOOD, "x": 1, "signalised": 1}])
    total = DriftFindings()
    total.add(a)
    total.add(b)
    assert total.as_dict() == {"new_fields": {"x": 2}, "missing_fields": {},
                               "type_changes": {"signalised: boolean -> integer": 1}}
