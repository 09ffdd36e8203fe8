"""JSON answers: orjson writes dates and naive times as ISO 8601, as the lake keeps them (CST)."""
from __future__ import annotations

import orjson
from fastapi.responses import Response


def json_response(obj, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS), status_code=status,
                    media_type="application/json", headers=headers)
