"""Airflow DAG file: lake maintenance, daily at 03:30 China Standard Time, when few feeds
deliver: compaction, snapshot expiry with the declared retention, clean-up of files no
kept snapshot reaches (``cityhub.pipelines.maintenance.maintain``, as ``cityhub lake
maintain`` runs it). The task builds its settings from the worker's environment."""
import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, task

with DAG(
    dag_id="lake_maintenance",
    schedule=CronTriggerTimetable("30 3 * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["cityhub", "maintenance"],
    doc_md=__doc__,
) as dag:

    @task(task_id="maintain", retries=1)
    def maintain() -> dict:
        from cityhub.core.files import private_files
        from cityhub.core.settings import Settings
        from cityhub.lake import Lake
        from cityhub.pipelines.maintenance import maintain as maintain_lake

        private_files()  # what the task writes (compacted files, metadata) is the hub user's alone
        return maintain_lake(Lake(Settings())).as_dict()

    maintain()
