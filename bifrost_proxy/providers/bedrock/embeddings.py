"""OpenAI embeddings <-> Bedrock InvokeModel for Amazon Titan and Cohere embedding models.

Titan (``amazon.titan-embed-text-v1``, ``-v2:0``): ``{"inputText": str, "dimensions"?}`` ->
``{"embedding": [...], "inputTextTokenCount": n}``. It embeds one text per request, and one client call is
one upstream request here, so a list of more than one input is refused (400) rather than silently split.
Cohere (``cohere.embed-*``): ``{"texts": [...], "input_type": ...}`` -> ``{"embeddings": [[...], ...]}``
(or ``{"embeddings": {"float": [...]}}``); its token count comes from the
``X-Amzn-Bedrock-Input-Token-Count`` header InvokeModel answers with.
"""
from __future__ import annotations

import base64
import struct
from typing import Any, Mapping

import orjson

from bifrost_proxy.errors import BadRequest, UpstreamError
from bifrost_proxy.providers.base import Call
from bifrost_proxy.providers.bedrock.errors import header
from bifrost_proxy.providers.bedrock.response import load_json

COHERE_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")


def family(model: str) -> str:
    if "titan-embed" in model:
        return "titan"
    if "cohere.embed" in model:
        return "cohere"
    raise BadRequest(f"embeddings on Bedrock support Amazon Titan (amazon.titan-embed-*) and Cohere "
                     f"(cohere.embed-*) models, not {model!r}", param="model")


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise BadRequest("input must be a string or a non-empty list of strings (Bedrock takes no token arrays)",
                     param="input")


def request_body(call: Call) -> dict[str, Any]:
    body = call.body
    texts = _texts(body.get("input"))
    if family(call.model) == "titan":
        if len(texts) != 1:
            raise BadRequest("Titan embedding models on Bedrock embed one text per request; send a single "
                             "string (or a list of one)", param="input")
        out: dict[str, Any] = {"inputText": texts[0]}
        if body.get("dimensions") is not None:
            out["dimensions"] = body["dimensions"]
        return out
    if body.get("dimensions") is not None:
        raise BadRequest("Cohere embedding models on Bedrock have a fixed size; drop dimensions", param="dimensions")
    input_type = body.get("input_type", "search_document")  # Cohere's own field, accepted as an extension
    if input_type not in COHERE_INPUT_TYPES:
        raise BadRequest(f"input_type must be one of {', '.join(COHERE_INPUT_TYPES)}", param="input_type")
    return {"texts": texts, "input_type": input_type}


def _encode(vector: list[float], encoding: Any) -> Any:
    if not all(type(x) is float or type(x) is int for x in vector):
        raise TypeError("not a vector of numbers")
    if encoding == "base64":  # as OpenAI: little-endian float32, base64
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def response_body(call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
    obj = load_json(body)
    if not isinstance(obj, dict):
        raise UpstreamError("Bedrock answered embeddings with something other than an object",
                            code="malformed_upstream_response")
    if family(call.model) == "titan":
        vectors = [obj.get("embedding")]
        tokens = obj.get("inputTextTokenCount")
    else:
        vectors = obj.get("embeddings")
        if isinstance(vectors, dict):  # asked with embedding_types: {"float": [...]}
            vectors = vectors.get("float")
        tokens = None
    if tokens is None:
        tokens = header(headers, "X-Amzn-Bedrock-Input-Token-Count")
    if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
        raise UpstreamError("Bedrock answered embeddings without vectors", code="malformed_upstream_response")
    encoding = call.body.get("encoding_format")
    try:
        prompt_tokens = int(tokens or 0)
        data = [{"object": "embedding", "index": i, "embedding": _encode(v, encoding)} for i, v in enumerate(vectors)]
    except (TypeError, ValueError, struct.error):
        raise UpstreamError("Bedrock answered embeddings that are not numbers", code="malformed_upstream_response") \
            from None
    call.usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return orjson.dumps({"object": "list", "data": data, "model": call.model, "usage": call.usage})
