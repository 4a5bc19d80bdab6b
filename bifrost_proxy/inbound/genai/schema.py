"""Gemini's ``Schema`` (an OpenAPI 3.0 subset: ``"type": "OBJECT"``, ``nullable``) -> JSON Schema.

https://ai.google.dev/api/caching#Schema : types are the enum names STRING, NUMBER, INTEGER, BOOLEAN,
ARRAY, OBJECT (NULL too); ``nullable: true`` allows null; ``propertyOrdering`` is Gemini's own and
dropped. Function ``parameters`` and ``responseSchema`` use it; ``parametersJsonSchema`` and
``responseJsonSchema`` are JSON Schema already and pass as they are.
"""
from __future__ import annotations

from typing import Any

# snake_case spellings protobuf JSON accepts -> the JSON Schema keyword
RENAMES = {
    "any_of": "anyOf", "max_items": "maxItems", "min_items": "minItems", "max_length": "maxLength",
    "min_length": "minLength", "max_properties": "maxProperties", "min_properties": "minProperties",
}
DROPPED = frozenset({"nullable", "propertyOrdering", "property_ordering"})


def json_schema(schema: Any) -> Any:
    """A JSON Schema equivalent of ``schema``; anything that is not an object is returned as it is."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED:
            continue
        key = RENAMES.get(key, key)
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: json_schema(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = json_schema(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [json_schema(sub) for sub in value]
        else:
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out
