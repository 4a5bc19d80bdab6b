"""Which client dialect a path belongs to, for errors raised before its handler runs (a virtual key's 401
in the middleware, a 404 under ``/anthropic/``): they too come in the client's own shape."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bifrost_proxy.inbound.base import Dialect


def dialect_for_path(path: str) -> "Dialect | None":
    if path.startswith("/anthropic/"):
        from bifrost_proxy.inbound.anthropic.dialect import ANTHROPIC
        return ANTHROPIC
    if path.startswith("/genai/"):
        from bifrost_proxy.inbound.genai.dialect import GENAI
        return GENAI
    if path == "/v1/responses" or path.startswith("/v1/responses/"):
        from bifrost_proxy.inbound.responses.dialect import DIALECT
        return DIALECT
    return None
