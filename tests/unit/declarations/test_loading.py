"""Declarations are read into typed models that refuse mistakes, each with the file,
the path inside it, the line and what is wrong; a broken declaration leaves out only
what it declares and what depends on it."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cityhub.declarations import load
from cityhub.declarations.loading import packaged_root


@pytest.fixture
def schemas(tmp_path) -> Path:
    """A private copy of the installed declarations, to break."""
    root = tmp_path / "schemas"
    shutil.copytree(packaged_root(), root, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return root


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(root: Path, rel: str, needle: str) -> int:
    return next(i for i, line in enumerate((root / rel).read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def only_problem(root: Path):
    """The one problem of the one broken file (what depends on it may have its own)."""
    decl = load(root)
    assert decl.problems, "the mistake was not noticed"
    first = decl.problems[0]
    in_file = [p for p in decl.problems if p.file == first.file]
    assert len(in_file) == 1, in_file
    return decl, first


def test_the_installed_declarations_load_without_a_problem():
    decl = load()
    assert decl.problems == () and decl.disabled == {}
    assert {"key_areas", "camera_registry", "quarantine", "indicator_values"} <= set(decl.contracts)
    assert len(decl.connectors) >= 15 and {"4", "5", "27"} <= set(decl.indicators)
    assert "371400" in decl.cities and len(decl.catalogue.categories) >= 60
    assert decl.thresholds is not None and decl.thresholds.of("4")


def test_an_unknown_key_is_refused_with_file_path_and_line(schemas):
    edit(schemas, "contracts/key_areas.yaml", "{name: name, type: string, nullable: false}",
         "{name: name, type: string, nullable: false, colour: red}")
    decl, p = only_problem(schemas)
    assert (p.file, p.path) == ("contracts/key_areas.yaml", "fields[1].colour")
    assert p.message == "unknown key 'colour'"
    assert p.line == line_of(schemas, "contracts/key_areas.yaml", "colour: red")
    assert "key_areas" not in decl.contracts
    assert str(p).startswith(f"contracts/key_areas.yaml:{p.line}: fields[1].colour: unknown key")


def test_a_misspelt_rule_kind_is_refused(schemas):
    edit(schemas, "contracts/key_areas.yaml", "- {code: bad_kind, in: [", "- {code: bad_kind, inn: [")
    _, p = only_problem(schemas)
    assert (p.file, p.path) == ("contracts/key_areas.yaml", "fields[2].rules[0]")
    assert "a rule needs one of the keys regex, in, in_city_counties" in p.message
    assert "'inn'" in p.message


def test_a_misspelt_source_kind_is_refused(schemas):
    edit(schemas, "connectors/camera_registry.yaml", "kind: file_drop", "kind: file_dorp")
    decl, p = only_problem(schemas)
    assert (p.file, p.path) == ("connectors/camera_registry.yaml", "source")
    assert "kind must be one of file_drop, http, kafka, sql" in p.message
    assert "camera_registry" not in decl.connectors and "connector:camera_registry" in decl.disabled


def test_a_wrong_type_is_refused(schemas):
    edit(schemas, "contracts/traffic_intersections.yaml", "version: 2", "version: one")
    _, p = only_problem(schemas)
    assert (p.file, p.path) == ("contracts/traffic_intersections.yaml", "version")
    assert "valid integer" in p.message and "'one'" in p.message
    assert p.line == line_of(schemas, "contracts/traffic_intersections.yaml", "version: one")


def test_a_text_cut_short_by_a_comma_in_a_flow_mapping_is_refused(schemas):
    edit(schemas, "contracts/medical_institutions.yaml", 'reason: "level must be 1, 2, 3 or ungraded"',
         "reason: level must be 1, 2, 3 or ungraded")
    decl = load(schemas)
    messages = {(p.file, p.path): p.message for p in decl.problems}
    assert messages[("contracts/medical_institutions.yaml", "fields[4].rules[0].2")].startswith(
        "unknown key '2': a comma inside {...} ends the text before it; quote the whole text")
    assert ("contracts/medical_institutions.yaml", "fields[4].rules[0].3 or ungraded") in messages


def test_a_text_cut_by_a_thousands_separator_is_named_with_the_key_as_written(schemas):
    edit(schemas, "contracts/medical_visits.yaml", 'reason: "visits must be between 0 and 1,000,000"',
         "reason: visits must be between 0 and 1,000,000")
    _, p = only_problem(schemas)
    assert (p.file, p.path) == ("contracts/medical_visits.yaml", "fields[4].rules[0].000")
    assert p.message.startswith("unknown key '000': a comma inside {...} ends the text before it")
    assert p.line == line_of(schemas, "contracts/medical_visits.yaml", "1,000,000")


def test_lookups_name_what_is_declared_and_why_one_is_missing(schemas):
    from cityhub.core.errors import NotFound

    edit(schemas, "contracts/key_areas.yaml", "version: 2", "version: 0")
    decl = load(schemas)
    with pytest.raises(NotFound) as e:
        decl.contract("key_areas")
    assert "no contract 'key_areas': it is broken (contracts/key_areas.yaml" in e.value.detail
    with pytest.raises(NotFound) as e:
        decl.connector("nope")
    assert e.value.detail.startswith("no connector 'nope' (declared: bus_stop_boards_sql, camera_catalog_drop")
    with pytest.raises(NotFound) as e:
        decl.indicator("99")
    assert "no indicator '99'" in e.value.detail and "27" in e.value.detail


def test_a_reference_to_an_unknown_dataset_or_field_is_refused(schemas):
    edit(schemas, "contracts/traffic_signal_events.yaml", "references: {dataset: traffic_intersections,",
         "references: {dataset: traffic_intersection,")
    edit(schemas, "contracts/medical_visits.yaml", "references: {dataset: medical_institutions, field: uscc}",
         "references: {dataset: medical_institutions, field: usc}")
    edit(schemas, "connectors/camera_key_areas.yaml", "columns: {area_id: area_id,", "columns: {area_idd: area_id,")
    decl = load(schemas)
    found = {(p.file, p.path): p.message for p in decl.problems}
    assert found[("contracts/traffic_signal_events.yaml", "fields[1].rules[0].references")] == \
        "references traffic_intersection, which is not a contract"
    assert found[("contracts/medical_visits.yaml", "fields[1].rules[0].references")] == \
        "references field usc, which medical_institutions does not have"
    assert found[("connectors/camera_key_areas.yaml", "columns.area_idd")] == \
        "'area_idd' is not a field of contract key_areas"


def test_a_yaml_syntax_error_is_one_problem_with_its_line(schemas):
    (schemas / "connectors" / "camera_registry.yaml").write_text("name: camera_registry\nsource: {kind: [\n",
                                                                  encoding="utf-8")
    decl, p = only_problem(schemas)
    assert p.file == "connectors/camera_registry.yaml" and "not valid YAML" in p.message and p.line
    assert "camera_registry" not in decl.connectors
    assert decl.broken("connector") == {"camera_registry": (p,)}  # left out, and said so (Airflow, status)
    assert "it is broken" in str(pytest.raises(Exception, decl.connector, "camera_registry").value)


def test_a_broken_contract_leaves_out_only_what_depends_on_it(schemas):
    edit(schemas, "contracts/medical_visits.yaml", "type: int64", "type: integer")
    decl = load(schemas)
    assert "medical_visits" not in decl.contracts
    assert "medical_visits_drop" not in decl.connectors and "20" not in decl.indicators
    assert "hc.visits" not in decl.catalogue.categories
    why = {p.file: p.message for p in decl.problems}
    assert why["connectors/medical_visits_drop.yaml"] == "contract medical_visits is broken"
    assert "medical_visits is not a contract (it is broken)" in why["indicators.yaml"]
    assert "dataset medical_visits: its contract is broken" in why["catalog.yaml"]
    # everything else is still there
    full = load()
    assert set(full.connectors) - set(decl.connectors) == {"medical_visits_drop"}
    assert set(full.indicators) - set(decl.indicators) == {"20"}
    assert set(full.contracts) - set(decl.contracts) == {"medical_visits"}


def test_an_indicator_query_that_does_not_bind_leaves_out_that_indicator(schemas):
    edit(schemas, "indicators.yaml", "FROM major_intersections WHERE epolice",
         "FROM major_intersections WHERE e_police")
    decl = load(schemas)
    assert "7" not in decl.indicators and "21" in decl.indicators
    (p,) = decl.disabled["indicator:7"]
    assert p.file == "indicators.yaml" and p.path.startswith("indicators[") and "7.numerator" in p.message
    assert "e_police" in p.message


def test_a_personal_field_must_declare_its_mask(schemas):
    edit(schemas, "contracts/social_security_records.yaml", "sensitivity: personal, mask: phone}",
         "sensitivity: personal}")
    _, p = only_problem(schemas)
    assert p.file == "contracts/social_security_records.yaml" and p.path == "fields[11]"
    assert "phone is personal: declare how it is masked" in p.message


def test_a_connector_must_be_named_as_its_file(schemas):
    edit(schemas, "connectors/camera_registry.yaml", "name: camera_registry", "name: camera_registry_csv")
    decl, p = only_problem(schemas)
    assert (p.path, p.message) == ("name", "'camera_registry_csv' must be the file's name, 'camera_registry'")
    assert not {"camera_registry", "camera_registry_csv"} & set(decl.connectors)


def test_changed_files_are_read_again(schemas):
    assert "camera_registry" in load(schemas).connectors
    edit(schemas, "connectors/camera_registry.yaml", "freshness_hours: 36", "freshness_hours: -1")
    decl = load(schemas)
    assert "camera_registry" not in decl.connectors
    assert decl.problems[0].path == "freshness_hours"


def test_also_must_name_declared_connectors(schemas):
    edit(schemas, "connectors/camera_catalog_drop.yaml", "also: [camera_directory]", "also: [camera_directry]")
    decl = load(schemas)
    [p] = [p for p in decl.problems if p.file == "connectors/camera_catalog_drop.yaml"]
    assert p.path == "also" and "camera_directry" in p.message
    assert "camera_catalog_drop" not in decl.connectors
