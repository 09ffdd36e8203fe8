"""SQL sources: rows of a department database, in chunks, after the watermark
committed with the previous chunk's rows.

With a declared ``key`` the watermark is compound: the (watermark, key) of the last row
read, and the query asks for rows after it (``updated_at > :cursor OR (updated_at =
:cursor AND stop_id > :cursor_key)``, ordered by both; portable to SQLite and
PostgreSQL). A plain ``updated_at > :cursor`` skips rows that share the last value but
were cut off by the limit or committed after the read. The connector's state keeps
``{"at": ..., "key": ...}``; a plain value left by an earlier version is read as
(value, no key): rows at that value are then skipped as before, once."""
from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from cityhub.core.errors import SourceError
from cityhub.core.payloads import Payload
from cityhub.core.settings import Settings
from cityhub.core.time import now_cst
from cityhub.connectors.sources.units import Unit, source_url
from cityhub.declarations.connectors import ConnectorSpec, SqlSource


def _position(src: SqlSource, state: dict) -> tuple[object, object]:
    """(watermark value, key value) of the last row taken; the key is None before any."""
    cursor = state.get("cursor", src.start)
    if isinstance(cursor, dict):
        return cursor.get("at", src.start), cursor.get("key")
    return cursor, None


def _json_value(v: object) -> object:
    return v if v is None or isinstance(v, (str, int, float)) else str(v)


def units(spec: ConnectorSpec, cfg: Settings, state: dict) -> Iterator[Unit]:
    src: SqlSource = spec.source
    url = source_url(spec, cfg)
    if not url:
        return
    at, after_key = _position(src, state)
    params = {"cursor": at, "limit": src.chunk}
    if src.key:
        params["cursor_key"] = after_key
    try:
        engine = create_engine(url)
    except (SQLAlchemyError, ValueError) as e:
        raise SourceError(f"{spec.name}: cannot use database URL: {e}") from None
    try:
        with engine.connect() as con:
            rows = [dict(r._mapping) for r in con.execute(text(src.query), params)]
    except SQLAlchemyError as e:
        raise SourceError(f"{spec.name}: query failed: {e}") from None
    finally:
        engine.dispose()
    if not rows:
        return
    for column, what in ((src.watermark, "watermark"), (src.key, "key")):
        if column and column not in rows[-1]:
            raise SourceError(f"{spec.name}: the query returns no column {column!r} (the declared {what}); "
                              f"it returns {', '.join(rows[-1])}")
    data = json.dumps(rows, default=str, ensure_ascii=False).encode()
    last_at = str(rows[-1][src.watermark])
    if src.key:
        last_key = _json_value(rows[-1][src.key])
        new: object = {"at": last_at, "key": last_key}
        span = f"sql:{at}/{after_key}..{last_at}/{last_key}"
        name = f"sql:({src.watermark},{src.key})>({at},{after_key})"
    else:
        new, span, name = last_at, f"sql:{at}..{last_at}", f"sql:{src.watermark}>{at}"
    when = now_cst()
    yield Unit(id=span, payloads=[Payload(name, data, "utf-8")],
               as_of=when.date(), mark={}, cursor=lambda _records, new=new: new, delivered_at=when)
