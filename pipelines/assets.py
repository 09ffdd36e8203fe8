"""Airflow assets the hub's DAGs produce and consume (shared by every DAG file).

Kept outside ``dags/`` because every module in the DAG folder is parsed as a DAG
file. Assets are identified by name and URI; the ``cityhub://`` scheme names the
logical dataset, not a storage path (paths come from the environment).
"""
from __future__ import annotations

from airflow.sdk import Asset

CAMERA_DATA = Asset(name="camera_data", uri="cityhub://lake/cameras")
"""Camera tables in the lake: key areas, registry, catalogue, status events."""

INDICATORS = Asset(name="indicator_values", uri="cityhub://lake/indicator_values")
"""Computed DB37/T 3890.1 indicator values."""
