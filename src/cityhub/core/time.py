"""China Standard Time: the lake stores CST without a zone (UTC+8, no DST), so
periods are local days and naive timestamps keep Arrow -> JSON fast."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")


def now_cst() -> datetime:
    """Current China Standard Time, naive."""
    return datetime.now(CST).replace(tzinfo=None)


def to_cst(t: datetime) -> datetime:
    """An aware time in CST, naive; a naive time is taken as CST already."""
    return t.astimezone(CST).replace(tzinfo=None) if t.tzinfo else t


def instant(text: str | None) -> datetime | None:
    """An ISO-8601 timestamp as an aware datetime (naive text is China time), else None."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=CST)
