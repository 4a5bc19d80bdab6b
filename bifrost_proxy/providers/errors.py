"""Helpers every provider's error parser shares."""
from __future__ import annotations

from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any, Mapping

import orjson

from bifrost_proxy.errors import GatewayError, from_upstream_status

MAX_MESSAGE_CHARS = 2000  # an upstream message longer than this is cut: errors are read by people


def cut_message(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "..."


def error_body(body: bytes) -> Any:
    """An error answer's JSON, or its text when it is short plain text (a proxy's), else None."""
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        # a proxy's HTML page or plain text: use it as the message only if it is short text
        text = body.decode("utf-8", "replace").strip()
        return text if text and len(text) < 300 and "<" not in text else None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date) or ``retry-after-ms``; None if absent."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def openai_stream_error(obj: Any) -> GatewayError:
    """An error event inside an OpenAI-compatible stream, mapped by its type or code."""
    err = obj.get("error", obj) if isinstance(obj, dict) else {}
    if not isinstance(err, dict):
        err = {"message": str(err)}
    kind = f"{err.get('type') or ''} {err.get('code') or ''}"
    status = 429 if "rate_limit" in kind else 503 if ("overloaded" in kind or "server_error" in kind) else 502
    message = str(err.get("message") or "the upstream reported an error mid-stream")
    out = from_upstream_status(status, message, code=_text(err.get("code")), param=_text(err.get("param")))
    if status == 502:
        out.type = str(err.get("type") or "upstream_error")
    return out


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
