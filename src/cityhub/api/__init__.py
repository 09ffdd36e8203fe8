"""The HTTP API (FastAPI): county apps, data engineers and the scoring layer.
``cityhub.api.main.create_app`` builds it."""
