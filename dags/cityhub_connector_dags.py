"""Airflow DAG file: one ingestion DAG per connector declared in the hub's
declarations (``schemas/connectors/*.yaml``); adding a connector adds its DAG.
A broken declaration leaves out only its own DAG, reported as this file's import error.

Named so that it shadows no package when Airflow puts this folder on ``sys.path``."""
from cityhub.orchestration.dags import connector_dags

globals().update(connector_dags())
