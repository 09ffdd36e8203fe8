"""Airflow assets the hub's DAGs produce and consume. Assets are identified by name
and URI; the ``cityhub://`` scheme names the logical dataset, not a storage path
(paths come from the settings)."""
from __future__ import annotations

from airflow.sdk import Asset


def dataset_asset(dataset: str) -> Asset:
    """The lake table ``dataset`` as an Airflow asset (updated by its connectors)."""
    return Asset(name=dataset, uri=f"cityhub://lake/{dataset}")


INDICATORS = Asset(name="indicator_values", uri="cityhub://lake/indicator_values")
"""Computed DB37/T 3890.1 indicator values."""
