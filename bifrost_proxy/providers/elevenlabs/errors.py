"""ElevenLabs error answers -> the gateway's error tree.

ElevenLabs answers ``{"detail": {"status": "quota_exceeded", "message": "..."}}`` (the ``status`` is a
code, not the HTTP status), and FastAPI's validation shape ``{"detail": [{"loc": [...], "msg": ...}]}``
for 422. 4xx keep their status and message (a 401 ``quota_exceeded`` makes dispatch try the provider's
other keys, which is what an exhausted key calls for); 5xx are retryable.
"""
from __future__ import annotations

from typing import Any, Mapping

from bifrost_proxy.errors import GatewayError, from_upstream_status
from bifrost_proxy.providers.errors import cut_message, error_body, parse_retry_after



def parse_elevenlabs_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    message, code = _detail(error_body(body))
    return from_upstream_status(status, cut_message(message or f"the upstream answered HTTP {status}"), code=code,
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
