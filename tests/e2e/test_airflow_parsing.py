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
NO_FUNCTION = "traffic_signal_events_drop"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    return template_db(tmp_path_factory, AIRFLOW)


def expected_dag_ids(decl) -> set[str]:
    return {f"connector_{n}" for n in decl.connectors} | {"indicators", "lake_maintenance"}


def test_the_dag_processor_bags_every_dag_without_import_errors(migrated, decl, tmp_path):
    assert decl.connectors and not decl.broken("connector")
    parsed = parse_dags(tmp_path / "parse", migrated, AIRFLOW)
    assert parsed.import_errors == [], parsed.log
    assert parsed.dag_ids == expected_dag_ids(decl), parsed.log


def test_broken_declarations_are_import_errors_of_their_own_dags_and_the_rest_load(migrated, decl, tmp_path):
    """A broken connector declaration, a connector whose mapping function cannot be found
    and a broken indicator: each file's import error names what it left out and why;
    every other DAG loads, the indicators DAG included."""
    from cityhub.declarations import load

    schemas = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", schemas, ignore=shutil.ignore_patterns("__pycache__"))

    def edit(rel: str, old: str, new: str) -> None:
        path = schemas / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    edit(f"connectors/{BROKEN}.yaml", "kind: file_drop", "kind: file_dorp")
    edit(f"connectors/{NO_FUNCTION}.yaml", "mappings.common:with_received_at", "mappings.common:with_received")
    edit("indicators.yaml", "FROM major_intersections WHERE epolice", "FROM major_intersections WHERE e_police")
    broken = load(schemas)
    assert set(broken.broken("connector")) == {BROKEN} and set(broken.broken("indicator")) == {"7"}

    parsed = parse_dags(tmp_path / "parse", migrated, AIRFLOW, CITYHUB_DECLARATIONS=str(schemas))

    errors = {Path(e["filepath"]).name: e["error"] for e in parsed.import_errors}
    assert set(errors) == {"cityhub_connector_dags.py", "cityhub_indicators_dag.py"}, parsed.import_errors
    connectors = errors["cityhub_connector_dags.py"]
    assert f"connector_{BROKEN}" in connectors and f"connector_{NO_FUNCTION}" in connectors
    assert f"connectors/{BROKEN}.yaml" in connectors and "file_dorp" in connectors
    assert "kind must be one of file_drop, http, kafka, sql" in connectors
    assert "with_received" in connectors and "cannot be found" in connectors
    indicators = errors["cityhub_indicators_dag.py"]
    assert "without indicator(s) 7" in indicators and "e_police" in indicators
    assert parsed.dag_ids == expected_dag_ids(decl) - {f"connector_{BROKEN}", f"connector_{NO_FUNCTION}"}, parsed.log
