"""Alerts for the people on duty: a JSON POST to a chat robot's webhook (the DingTalk and
WeCom robots both take ``{"msgtype": "text", "text": {"content": ...}}``) when a connector
fails or a feed goes stale. The structured facts ride along under ``cityhub`` for other
receivers. An alert that cannot be delivered is logged, never raised: a broken webhook
must not fail the ingest it reports on."""
from __future__ import annotations

import logging
from typing import Literal

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from cityhub.core.settings import Settings
from cityhub.core.time import now_cst

log = logging.getLogger(__name__)
Kind = Literal["failed", "stale"]


def alert(cfg: Settings, kind: Kind, connector: str, detail: str) -> bool:
    """Tell the webhook (if one is set); True when it accepted the alert."""
    if not cfg.alert_webhook_url:
        return False
    at = now_cst()
    body = {"msgtype": "text",
            "text": {"content": f"[CityHub {cfg.city}] {connector} {kind}: {detail} ({at:%Y-%m-%d %H:%M})"},
            "cityhub": {"city": cfg.city, "connector": connector, "kind": kind, "detail": detail,
                        "at": at.isoformat(timespec="seconds")}}
    try:
        _post(cfg.alert_webhook_url, body)
        return True
    except httpx.HTTPError as e:
        log.warning("alert %s/%s not delivered to the webhook: %s", connector, kind, e)
        return False


@retry(retry=retry_if_exception_type(httpx.TransportError), stop=stop_after_attempt(3),
       wait=wait_exponential(multiplier=0.2, max=2), reraise=True)
def _post(url: str, body: dict) -> None:
    httpx.post(url, json=body, timeout=10).raise_for_status()
