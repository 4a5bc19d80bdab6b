"""ElevenLabs error answers -> the gateway's error tree.

ElevenLabs answers ``{"detail": {"status": "quota_exceeded", "message": "..."}}`` (the ``status`` is a
code, not the HTTP status), and FastAPI's validation shape ``{"detail": [{"loc": [...], "msg": ...}]}``
for 422. 4xx keep their status and message (a 401 ``quota_exceeded`` makes dispatch try the provider's
other keys, which is what an exhausted key calls for); 5xx are retryable.
"""
from __future__ import annotations

from typing import Any, Mapping

import orjson

from bifrost_proxy.errors import GatewayError, from_upstream_status
from bifrost_proxy.providers.errors import parse_retry_after

MAX_MESSAGE_CHARS = 2000


def parse_elevenlabs_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    message, code = _detail(_loads(body))
    return from_upstream_status(status, _cut(message or f"the upstream answered HTTP {status}"), code=code,
                                retry_after=parse_retry_after(headers))


def _detail(obj: Any) -> tuple[str | None, str | None]:
    detail = obj.get("detail", obj) if isinstance(obj, dict) else obj
    if isinstance(detail, dict):
        message = detail.get("message") or detail.get("msg")
        code = detail.get("status") or detail.get("code")
        return (str(message) if message else None), (str(code) if code else None)
    if isinstance(detail, list):
        problems = []
        for item in detail[:5]:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc") or () if p != "body")
                problems.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        return ("; ".join(problems) or None), "validation_error"
    if isinstance(detail, str) and detail:
        return detail, None
    return None, None


def _cut(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "..."


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text if text and len(text) < 300 and "<" not in text else None
