"""JSON rows are written from Arrow text for dates and times: the same bytes as orjson
writing the Python objects, whatever the fraction, unit or null."""
from datetime import date, datetime

import orjson
import pyarrow as pa

from cityhub.api import formats


def test_dates_and_times_read_as_orjson_writes_the_python_objects():
    times = [datetime(2026, 11, 1, 8, 0, 0), datetime(2026, 11, 1, 8, 0, 0, 120000),
             datetime(2026, 11, 1, 23, 59, 59, 1), None, datetime(1999, 12, 31, 0, 0)]
    table = pa.table({
        "us": pa.array(times, pa.timestamp("us")),
        "ms": pa.array([t.replace(microsecond=t.microsecond // 1000 * 1000) if t else None for t in times],
                       pa.timestamp("ms")),
        "s": pa.array([t.replace(microsecond=0) if t else None for t in times], pa.timestamp("s")),
        "day": pa.array([date(2026, 1, 2), None, date(2000, 2, 29), date(2026, 12, 31), date(1970, 1, 1)]),
        "text": ["a", None, "丙", "", "x"],
        "n": [1, None, 3, 4, 5],
    })
    expected = orjson.dumps(table.to_pylist())
    assert orjson.dumps(formats.rows(table)) == expected
    assert orjson.loads(expected)[1]["us"] == "2026-11-01T08:00:00.120000"
    assert orjson.loads(expected)[0]["us"] == "2026-11-01T08:00:00"


def test_zoned_times_keep_their_offset():
    t = pa.array([datetime(2026, 11, 1, 8, 0)], pa.timestamp("us", tz="Asia/Shanghai"))
    assert orjson.dumps(formats.rows(pa.table({"t": t}))) == orjson.dumps(pa.table({"t": t}).to_pylist())
