"""Airflow assets the hub's DAGs produce and consume (shared by every DAG file).

Kept outside ``dags/`` because every module in the DAG folder is parsed as a DAG
file. Assets are identified by name and URI; the ``cityhub://`` scheme names the
logical dataset, not a storage path (paths come from the environment).
"""
from __future__ import annotations

from airflow.sdk import Asset

from connectors.spec import registry


def dataset_asset(dataset: str) -> Asset:
    """The lake table ``dataset`` as an Airflow asset (updated by its connectors)."""
    return Asset(name=dataset, uri=f"cityhub://lake/{dataset}")


def fed_datasets() -> list[str]:
    """Datasets some declared connector lands into."""
    return sorted({spec.dataset for spec in registry().values()})


INDICATORS = Asset(name="indicator_values", uri="cityhub://lake/indicator_values")
"""Computed DB37/T 3890.1 indicator values."""
