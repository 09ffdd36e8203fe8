"""Camera ingestion every 15 minutes: one task per source (``pipelines.camera_ingest``).

Thin wiring only. Writers of the same table run one after the other; the key
areas and the registry land before the catalogue and the status events.
Configuration (lake, drop folders, broker, catalogue URL) comes from the
environment through ``hub.config.settings()``.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowSkipException

from pipelines.assets import CAMERA_DATA
from pipelines.camera_ingest import SOURCES, ingest_source

# source -> the source that must finish first (None: the run's first task)
UPSTREAM = {
    "key_areas": None,
    "camera_registry": "key_areas",
    "camera_catalog_drop": "camera_registry",
    "camera_catalog_http": "camera_catalog_drop",
    "camera_status_drop": "camera_registry",
    "camera_status_kafka": "camera_status_drop",
}


def _ingest_task(source: str):
    # a skipped task emits no asset event: indicators re-run only when data changed
    @task(task_id=source, outlets=[CAMERA_DATA], trigger_rule="none_failed")
    def ingest() -> dict:
        report = ingest_source(source)
        if report is None:
            raise AirflowSkipException(f"{source} is not configured")
        if report.landed == 0 and report.quarantined == 0:
            raise AirflowSkipException(f"{source}: nothing new")
        return {"landed": report.landed, "quarantined": report.quarantined,
                "snapshot_id": str(report.snapshot_id)}

    return ingest()


with DAG(
    dag_id="camera_ingest",
    schedule="*/15 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["cityhub", "cameras"],
    doc_md=__doc__,
):
    tasks = {source: _ingest_task(source) for source in SOURCES}
    for source, upstream in UPSTREAM.items():
        if upstream is not None:
            tasks[upstream] >> tasks[source]
