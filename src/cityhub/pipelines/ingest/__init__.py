"""Ingestion: running declared connectors (units -> batches -> landing), their run
records and their status."""
