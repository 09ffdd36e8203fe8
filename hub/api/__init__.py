"""The HTTP API (FastAPI): county apps, data engineers and the scoring layer."""
