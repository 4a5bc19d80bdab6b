"""Tool call ids across the translation, with what a provider needs back riding inside them.

Gemini 3 wants each function call's ``thoughtSignature`` back with the call in the next request; the
gemini adapter hands it out, OpenAI-style, as the tool call's ``extra_content.google.thought_signature``.
An Anthropic client keeps nothing of a ``tool_use`` block but its id, name and input, and echoes the id
in its ``tool_result``. So the signature travels in the id: ``<id>__sig_<signature, URL-safe base64>``,
within the characters Anthropic allows in an id (letters, digits, ``_`` and ``-``), and is taken out
again when the history comes back.
"""
from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

MARK = "__sig_"


def anthropic_tool_id(call_id: Any, extra_content: Any) -> str:
    """The ``tool_use`` id for an OpenAI tool call's id (a new one when it has none) and ``extra_content``."""
    tool_id = call_id if isinstance(call_id, str) and call_id else "toolu_" + uuid.uuid4().hex
    google = extra_content.get("google") if isinstance(extra_content, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    if isinstance(signature, str) and signature:
        tool_id += MARK + base64.urlsafe_b64encode(signature.encode()).rstrip(b"=").decode()
    return tool_id


def openai_tool_id(tool_id: str) -> tuple[str, dict[str, Any] | None]:
    """``(tool call id, extra_content or None)`` for a ``tool_use`` id made by ``anthropic_tool_id``."""
    call_id, mark, encoded = tool_id.partition(MARK)
    if not mark or not call_id:
        return tool_id, None
    try:
        signature = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        signature = ""
    if not signature:
        return tool_id, None  # not ours: an id that merely looks like one
    return call_id, {"google": {"thought_signature": signature}}
