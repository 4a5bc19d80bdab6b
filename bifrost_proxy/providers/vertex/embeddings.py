"""OpenAI ``/v1/embeddings`` <-> Vertex AI text-embedding ``:predict``.

https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api :
``{"instances": [{"content": "..."}], "parameters": {"outputDimensionality": D}}`` ->
``{"predictions": [{"embeddings": {"values": [...], "statistics": {"token_count": N, "truncated": false}}}]}``.
How many instances one call may carry is the model's limit (250 for text-embedding-005, 1 for
gemini-embedding-001); past it Vertex answers 400 and that answer is passed on.
"""
from __future__ import annotations

from typing import Any

import orjson

from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.providers.base import Call
from bifrost_proxy.providers.gemini.embeddings import embedding_inputs, embeddings_answer


def build_predict_body(call: Call) -> dict[str, Any]:
    body: dict[str, Any] = {"instances": [{"content": text} for text in embedding_inputs(call.body)]}
    if call.body.get("dimensions") is not None:
        body["parameters"] = {"outputDimensionality": call.body["dimensions"]}
    return body


def parse_predict_response(call: Call, body: bytes) -> bytes:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    predictions = obj.get("predictions") if isinstance(obj, dict) else None
    vectors: list[list[float]] = []
    tokens = 0
    for item in predictions if isinstance(predictions, list) else ():
        emb = item.get("embeddings") if isinstance(item, dict) else None
        if not isinstance(emb, dict) or not isinstance(emb.get("values"), list):
            vectors.clear()
            break
        vectors.append(emb["values"])
        stats = emb.get("statistics")
        tokens += int(stats.get("token_count") or 0) if isinstance(stats, dict) else 0
    if not vectors:
        raise UpstreamError("the upstream answered without embeddings", code="malformed_upstream_response")
    return embeddings_answer(call, vectors, tokens)
