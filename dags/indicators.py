"""Indicators: recomputed when any fed dataset changes, and hourly regardless.

Thin wiring around ``pipelines.indicators.compute`` for the configured city and
today's date (China time).
"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, task

from pipelines.assets import INDICATORS, dataset_asset, fed_datasets

with DAG(
    dag_id="indicators",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 * * * *", timezone="Asia/Shanghai"),
        assets=AssetAny(*[dataset_asset(d) for d in fed_datasets()]),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["cityhub", "indicators"],
    doc_md=__doc__,
):

    @task(task_id="compute", outlets=[INDICATORS])
    def compute() -> dict:
        from hub.config import settings
        from hub.lake import default_lake, now_cst
        from pipelines import indicators

        values = indicators.compute(default_lake(), settings().city, now_cst().date())
        return {"values": len(values),
                "with_value": sum(1 for v in values if v.get("value") is not None)}

    compute()
