"""SQL sources: rows of a department database, in chunks, after the watermark
committed with the previous chunk's rows."""
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


def units(spec: ConnectorSpec, cfg: Settings, state: dict) -> Iterator[Unit]:
    src: SqlSource = spec.source
    url = source_url(spec, cfg)
    if not url:
        return
    cursor = state.get("cursor", src.start)
    try:
        engine = create_engine(url)
    except (SQLAlchemyError, ValueError) as e:
        raise SourceError(f"{spec.name}: cannot use database URL: {e}") from None
    try:
        with engine.connect() as con:
            rows = [dict(r._mapping) for r in con.execute(text(src.query), {"cursor": cursor, "limit": src.chunk})]
    except SQLAlchemyError as e:
        raise SourceError(f"{spec.name}: query failed: {e}") from None
    finally:
        engine.dispose()
    if not rows:
        return
    if src.watermark not in rows[-1]:
        raise SourceError(f"{spec.name}: the query returns no column {src.watermark!r} (the declared watermark); "
                          f"it returns {', '.join(rows[-1])}")
    data = json.dumps(rows, default=str, ensure_ascii=False).encode()
    last = str(rows[-1][src.watermark])
    at = now_cst()
    yield Unit(id=f"sql:{cursor}..{last}", payloads=[Payload(f"sql:{src.watermark}>{cursor}", data, "utf-8")],
               as_of=at.date(), mark={}, cursor=lambda _records, last=last: last, delivered_at=at)
