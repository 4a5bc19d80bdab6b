"""OpenAI embeddings <-> Cohere ``/v2/embed`` (https://docs.cohere.com/reference/embed).

Request: ``input`` (a string or a list of strings) -> ``texts``; ``input_type`` is ``search_document``
unless the request names another of Cohere's (``input_type`` is a Cohere extension field, passed as
given); ``dimensions`` -> ``output_dimension``; floats are always asked for (``embedding_types:
["float"]``). Token-array inputs are a 400: Cohere embeds text only. ``user`` is dropped.

Answer: ``embeddings.float[i]`` -> ``data[i].embedding``; ``encoding_format: "base64"`` gives, as OpenAI
does, the base64 of the vector as little-endian float32. ``usage`` counts Cohere's billed input tokens
(else its raw token count).
"""
from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from bifrost_proxy.errors import BadRequest, UpstreamError
from bifrost_proxy.providers.base import Call

DEFAULT_INPUT_TYPE = "search_document"


def build_embed_body(call: Call) -> dict[str, Any]:
    req = call.body
    value = req.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise BadRequest("cohere embeds text only: 'input' must be a string or a list of strings "
                         "(not token arrays)", param="input")
    input_type = req.get("input_type")
    body: dict[str, Any] = {
        "model": call.model,
        "texts": texts,
        "input_type": input_type if isinstance(input_type, str) and input_type else DEFAULT_INPUT_TYPE,
        "embedding_types": ["float"],
    }
    dimensions = req.get("dimensions")
    if dimensions is not None:
        if type(dimensions) is not int or dimensions < 1:
            raise BadRequest("'dimensions' must be a positive integer", param="dimensions")
        body["output_dimension"] = dimensions
    return body


def parse_embed_response(call: Call, body: bytes) -> bytes:
    """The OpenAI ``list`` of embeddings for a Cohere ``/v2/embed`` answer."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("the upstream answered with malformed JSON", code="malformed_upstream_response") \
            from None
    embeddings = obj.get("embeddings") if isinstance(obj, dict) else None
    # embeddings_by_type answers {"float": [[...]]}; the older embeddings_floats answers [[...]]
    vectors = embeddings.get("float") if isinstance(embeddings, dict) else embeddings
    if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
        raise UpstreamError("the upstream answered without float embeddings", code="malformed_upstream_response")
    as_base64 = call.body.get("encoding_format") == "base64"
    data = [{"object": "embedding", "index": i, "embedding": _base64(v) if as_base64 else v}
            for i, v in enumerate(vectors)]
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    tokens = _input_tokens(meta.get("billed_units")) or _input_tokens(meta.get("tokens"))
    return orjson.dumps({"object": "list", "data": data, "model": call.model,
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def _base64(vector: list[Any]) -> str:
    try:
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    except struct.error:
        raise UpstreamError("the upstream answered an embedding that is not numbers",
                            code="malformed_upstream_response") from None


def _input_tokens(units: Any) -> int:
    value = units.get("input_tokens") if isinstance(units, dict) else None
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0
