"""One ingestion DAG per declared connector, generated from the registry
(``schemas/connectors/*.yaml``): adding a connector adds its DAG, with no new
DAG file. Thin wiring only; the work is ``connectors.runner.run``.

A run that finds its source unconfigured or with nothing new is skipped, so it
emits no asset event and does not re-trigger the indicators.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowSkipException

from connectors.spec import ConnectorSpec, registry
from pipelines.assets import dataset_asset


def _dag(spec: ConnectorSpec) -> DAG:
    with DAG(
        dag_id=f"connector_{spec.name}",
        description=spec.title,
        schedule=spec.schedule,
        start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
        catchup=False,
        max_active_runs=1,  # one writer of the connector's state at a time
        tags=["cityhub", "connector", spec.source.kind, spec.dataset],
        doc_md=spec.description or spec.title,
    ) as dag:

        @task(task_id="ingest", outlets=[dataset_asset(spec.dataset)], retries=2)
        def ingest() -> dict:
            from connectors.runner import run

            report = run(spec.name)
            if report.skipped:
                raise AirflowSkipException(f"{spec.name}: {report.skipped}")
            if report.landed == 0 and report.quarantined == 0:
                raise AirflowSkipException(f"{spec.name}: nothing new")
            return {"units": report.units, "landed": report.landed, "quarantined": report.quarantined,
                    "snapshot_id": str(report.snapshot_id), "drift": report.drift.as_dict() if report.drift else None}

        ingest()
    return dag


for _spec in registry().values():
    globals()[f"connector_{_spec.name}"] = _dag(_spec)
