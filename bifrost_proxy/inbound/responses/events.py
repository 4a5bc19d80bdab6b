"""Framing of Responses stream events: ``event: <type>`` plus ``data: <json>``, as OpenAI sends them.

https://platform.openai.com/docs/api-reference/responses-streaming: every event carries its ``type`` and a
``sequence_number`` that rises by one from 0; the stream ends after ``response.completed``,
``response.incomplete`` or ``response.failed`` (there is no ``[DONE]``).
"""
from __future__ import annotations

from typing import Any

import orjson

from bifrost_proxy.errors import GatewayError
from bifrost_proxy.inbound.responses.errors import response_error

TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def event_frame(payload: dict[str, Any]) -> bytes:
    """One SSE event; ``payload`` starts with ``type`` and ``sequence_number``, as OpenAI orders them."""
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def failed_frame(sequence_number: int, response: dict[str, Any], error: GatewayError) -> bytes:
    """``response.failed`` for ``response`` (the stream's own Response object as it stood)."""
    failed = {**response, "status": "failed", "error": response_error(error)}
    return event_frame({"type": "response.failed", "sequence_number": sequence_number, "response": failed})
