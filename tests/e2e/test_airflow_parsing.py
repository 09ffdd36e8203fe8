"""Airflow's own parsing of ``dags/``, in a fresh process, the way production runs it.

``test_dags.py`` parses the DAG files in the test process with a ``DagBag``; that
does not catch what only Airflow's DAG processor does: parse each file in a
subprocess of its own, with the DAGs folder on ``sys.path`` (a DAG file named like a
package shadows it), the working directory elsewhere and nothing of the checkout on
``PYTHONPATH``. Here ``airflow dag-processor -n 1`` parses a copy of ``dags/`` and
stores the DAGs and import errors in a temporary metadata DB, which the
``airflow dags list`` commands read back (``tests/e2e/airflow_processor.py``).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.e2e.airflow_processor import REPO, parse_dags, template_db

AIRFLOW = [str(Path(sys.executable).parent / "airflow")]
"""The dev venv's ``airflow`` (the hub installed editable)."""
BROKEN = "camera_registry"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    return template_db(tmp_path_factory, AIRFLOW)


def expected_dag_ids(decl) -> set[str]:
    return {f"connector_{n}" for n in decl.connectors} | {"indicators"}


def test_the_dag_processor_bags_every_dag_without_import_errors(migrated, decl, tmp_path):
    assert decl.connectors and not decl.broken("connector")
    parsed = parse_dags(tmp_path / "parse", migrated, AIRFLOW)
    assert parsed.import_errors == [], parsed.log
    assert parsed.dag_ids == expected_dag_ids(decl), parsed.log


def test_a_broken_connector_declaration_is_one_import_error_and_the_rest_load(migrated, decl, tmp_path):
    from cityhub.declarations import load

    schemas = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", schemas, ignore=shutil.ignore_patterns("__pycache__"))
    spec = schemas / "connectors" / f"{BROKEN}.yaml"
    text = spec.read_text(encoding="utf-8")
    assert "kind: file_drop" in text
    spec.write_text(text.replace("kind: file_drop", "kind: file_dorp", 1), encoding="utf-8")
    assert set(load(schemas).broken("connector")) == {BROKEN}, "the edit must break exactly one connector"

    parsed = parse_dags(tmp_path / "parse", migrated, AIRFLOW, CITYHUB_DECLARATIONS=str(schemas))

    assert len(parsed.import_errors) == 1, parsed.import_errors
    (error,) = parsed.import_errors
    assert Path(error["filepath"]).name == "cityhub_connector_dags.py"
    message = error["error"]
    assert f"connector_{BROKEN}" in message
    assert f"connectors/{BROKEN}.yaml" in message and "file_dorp" in message
    assert "kind must be one of file_drop, http, kafka, sql" in message
    assert parsed.dag_ids == expected_dag_ids(decl) - {f"connector_{BROKEN}"}, parsed.log
