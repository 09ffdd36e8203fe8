"""The hub's log: configured once per process by its entry point (a CLI invocation, each
API worker, an Airflow task), as text or, with ``CITYHUB_LOG_FORMAT=json``, one JSON
object per line (``time``, ``level``, ``logger``, ``message``, and the ids of the work
under way: ``ingest_run_id``, ``connector``, ``dag_id``, ``dag_run_id``...), so a log
shipper can index them. Library code logs through the standard ``logging`` module and
binds ids with ``bound``; structlog renders every record, uvicorn's access log too."""
from __future__ import annotations

import logging
import sys
from contextlib import AbstractContextManager
from urllib.parse import urlsplit

import structlog

from cityhub.core.settings import Settings

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


def bound(**ids) -> AbstractContextManager:
    """Every record logged inside the block (in this thread or task) carries ``ids``."""
    return structlog.contextvars.bound_contextvars(**{k: v for k, v in ids.items() if v is not None})


def _access_fields(_logger, _name, event: dict) -> dict:
    """uvicorn's access record as fields: client, method, path (without the query, which
    may hold a filter's personal value) and status; the message without the query too."""
    record, args = event.get("_record"), event.pop("positional_args", None)
    if record is not None and record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        client, method, full_path, version, status = args
        path = urlsplit(full_path).path
        event.update(client=client, method=method, path=path, status=status)
        event["event"] = f'{client} - "{method} {path} HTTP/{version}" {status}'
    return event


def _json_formatter() -> logging.Formatter:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        _access_fields,
    ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        pass_foreign_args=True,  # for _access_fields
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
        ],
    )


class _Stderr(logging.StreamHandler):
    """To whatever ``sys.stderr`` is when a record is written (a test runner swaps it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def configure(cfg: Settings, *, uvicorn: bool = False) -> None:
    """Send every log record to stderr in ``cfg.log_format`` at ``cfg.log_level``,
    replacing this module's handler and ``logging.basicConfig``'s (a test runner's own
    handlers stay). ``uvicorn``: its loggers (access log included) go through the same
    handler, at INFO."""
    handler = _Stderr()
    handler.setFormatter(_json_formatter() if cfg.log_format == "json" else logging.Formatter(_TEXT))
    root = logging.getLogger()
    for h in list(root.handlers):
        if type(h) in (_Stderr, logging.StreamHandler):
            root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(cfg.log_level)
    logging.captureWarnings(cfg.log_format == "json")  # a library's warning is a record too, not a raw line
    if uvicorn:
        for name in UVICORN:
            lg = logging.getLogger(name)
            lg.handlers.clear()
            lg.propagate = True
            lg.setLevel(logging.INFO)
