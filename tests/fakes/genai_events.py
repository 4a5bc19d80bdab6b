"""Reading a Gemini SSE stream as a client does, strictly: ``data: {json}\\r\\n\\r\\n`` events and nothing else.

``events(raw)`` fails on any other byte (a ``: ping`` comment, a ``[DONE]``, a bare newline), since
google-genai and Google's JS SDKs fail on those too. ``shape(event)`` names what one event carries, in
order: its parts (``text``, ``thought``, ``functionCall``), ``finish=REASON``, ``usage``, ``error``.
"""
from __future__ import annotations

from typing import Any

import orjson

END = b"\r\n\r\n"


def events(raw: bytes) -> list[dict[str, Any]]:
    out = []
    rest = raw
    while rest:
        assert rest.startswith(b"data: "), f"not an event: {rest[:40]!r}"
        end = rest.find(END)
        assert end > 0, f"an event without its CRLF CRLF end: {rest[:40]!r}"
        payload = rest[6:end]
        assert b"\n" not in payload and b"\r" not in payload
        out.append(orjson.loads(payload))
        rest = rest[end + len(END):]
    return out


def shape(event: dict[str, Any]) -> str:
    if "error" in event:
        return "error"
    kinds: list[str] = []
    for cand in event.get("candidates", []):
        for part in cand.get("content", {}).get("parts", []):
            if "functionCall" in part:
                kinds.append("functionCall")
            elif part.get("thought"):
                kinds.append("thought")
            elif part.get("text"):
                kinds.append("text")
        if cand.get("finishReason"):
            kinds.append(f"finish={cand['finishReason']}")
    if "usageMetadata" in event:
        kinds.append("usage")
    return " ".join(kinds)
