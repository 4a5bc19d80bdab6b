"""OpenAI ``/v1/embeddings`` <-> Gemini ``batchEmbedContents`` (https://ai.google.dev/api/embeddings).

One upstream call serves a string or a list of strings: ``{"requests": [{"model": "models/M", "content":
{"parts": [{"text": ...}]}, "outputDimensionality": D}, ...]}`` -> ``{"embeddings": [{"values": [...]}]}``.
Token-id inputs (lists of integers) have no Gemini counterpart and are answered with 400.
"""
from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from bifrost_proxy.errors import BadRequest, UpstreamError
from bifrost_proxy.providers.base import Call


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    """The texts to embed, in order; raises ``BadRequest`` for token ids or anything not text."""
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise BadRequest("input must be a string or a non-empty list of strings (token ids are not supported "
                         "by Google's embedding APIs)", param="input")
    fmt = body.get("encoding_format", "float")
    if fmt not in (None, "float", "base64"):
        raise BadRequest("encoding_format must be float or base64", param="encoding_format")
    return texts


def build_embed_body(call: Call, model_path: str) -> dict[str, Any]:
    """``model_path`` is the resource name Gemini wants in every request (``models/text-embedding-004``)."""
    texts = embedding_inputs(call.body)
    extra: dict[str, Any] = {}
    if call.body.get("dimensions") is not None:
        extra["outputDimensionality"] = call.body["dimensions"]
    return {"requests": [{"model": model_path, "content": {"parts": [{"text": t}]}, **extra} for t in texts]}


def parse_embed_response(call: Call, body: bytes) -> bytes:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    items = obj.get("embeddings") if isinstance(obj, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("values"), list)
                                              for i in items):
        raise UpstreamError("the upstream answered without embeddings", code="malformed_upstream_response")
    meta = obj.get("usageMetadata") if isinstance(obj.get("usageMetadata"), dict) else {}
    tokens = int(meta.get("promptTokenCount") or 0)  # Gemini reports none today; 0 says "unknown"
    return embeddings_answer(call, [i["values"] for i in items], tokens)


def embeddings_answer(call: Call, vectors: list[list[float]], prompt_tokens: int) -> bytes:
    """The OpenAI ``list`` of embeddings, each a float list or, when asked, base64 of little-endian float32."""
    as_base64 = call.body.get("encoding_format") == "base64"
    call.usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    data = [{"object": "embedding", "index": i, "embedding": encode_base64(v) if as_base64 else v}
            for i, v in enumerate(vectors)]
    return orjson.dumps({"object": "list", "data": data, "model": call.model,
                         "usage": call.usage})


def encode_base64(vector: list[float]) -> str:
    # what OpenAI sends for encoding_format=base64 and what the openai SDK decodes with numpy float32
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
