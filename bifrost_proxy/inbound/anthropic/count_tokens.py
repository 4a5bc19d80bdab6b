"""An estimate of a Messages request's input tokens, for ``count_tokens`` on providers without that API.

An ``anthropic`` provider counts exactly (``passthrough.py`` forwards the request to its
``/v1/messages/count_tokens``). Everywhere else the gateway knows no tokenizer of the model, so it
estimates the way Anthropic's and OpenAI's guides do for English text: about four characters a token,
over every string of the system prompt, the messages (tool calls and results included) and the tool
definitions, plus a few tokens per message for the role and framing. An image counts as Anthropic's
formula gives for an image at the largest size it keeps unresized (about 1,600 tokens); a PDF as one page
of text and one image per 100 KB of base64. Clients use the count to decide when to compact a
conversation, which this serves; it is not a bill.
"""
from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4  # role and framing per message
IMAGE_TOKENS = 1600
PDF_PAGE_TOKENS = 1600 + 800  # the page as an image plus its text
PDF_BASE64_PER_PAGE = 100_000
MAX_DEPTH = 64  # no real request nests deeper; a hostile one must not exhaust the stack


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """Estimated input tokens of a checked request (``request.check_request(body, counting=True)``)."""
    chars, fixed = 0, 0
    for name in ("system", "tools", "tool_choice"):
        c, f = _walk(body.get(name), 0)
        chars, fixed = chars + c, fixed + f
    for message in body["messages"]:
        c, f = _walk(message.get("content"), 0)
        chars, fixed = chars + c, fixed + f + MESSAGE_OVERHEAD
    return max(1, -(-chars // CHARS_PER_TOKEN) + fixed)


def _walk(value: Any, depth: int) -> tuple[int, int]:
    """(characters of text, tokens counted whole) in any JSON value, blocks counted by their kind."""
    if depth > MAX_DEPTH:
        return 0, 0
    depth += 1
    if isinstance(value, str):
        return len(value), 0
    if isinstance(value, list):
        chars, fixed = 0, 0
        for item in value:
            c, f = _walk(item, depth)
            chars, fixed = chars + c, fixed + f
        return chars, fixed
    if not isinstance(value, dict):
        return (len(str(value)), 0) if value is not None else (0, 0)
    kind = value.get("type")
    source = value.get("source")
    if kind == "image":
        return 0, IMAGE_TOKENS
    if kind == "document" and isinstance(source, dict) and source.get("type") == "base64":
        data = source.get("data")
        pages = 1 + (len(data) if isinstance(data, str) else 0) // PDF_BASE64_PER_PAGE
        return 0, pages * PDF_PAGE_TOKENS
    chars, fixed = 0, 0
    for key, item in value.items():
        if key in ("type", "cache_control", "signature"):
            continue  # structure and opaque tokens Anthropic does not count as text
        c, f = _walk(item, depth)
        chars, fixed = chars + c + len(key), fixed + f
    return chars, fixed
