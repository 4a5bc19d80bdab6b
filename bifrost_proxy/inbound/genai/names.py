"""Reading Gemini request JSON: every field has two spellings, and some features only Gemini serves.

Gemini's API parses protobuf JSON, which accepts a field's lowerCamelCase name and its proto snake_case
name alike (https://protobuf.dev/programming-guides/json/), and google-genai 3.x sends both: the top
level in camelCase, some nested objects as given (``parameters_json_schema``, ``thinking_budget``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bifrost_proxy.errors import BadRequest


def pick(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """``obj[camel]``, else ``obj[snake]``; None when neither is set."""
    value = obj.get(camel)
    return value if value is not None else obj.get(snake)


def expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    """``value`` when it is None or of ``kind`` (booleans are not numbers); else a 400 naming ``where``."""
    if value is None:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
        return value
    raise BadRequest(f"{where} must be {what}", param=where)


@dataclass(slots=True)
class GeminiOnly:
    """Features of the request that only an upstream speaking Gemini's API serves (a Google search
    tool, cached content, code execution, image output ...): ``(param, what)`` in request order.
    The endpoint refuses them with 400 when the call is translated for another provider."""

    found: list[tuple[str, str]] = field(default_factory=list)

    def add(self, param: str, what: str) -> None:
        self.found.append((param, what))
