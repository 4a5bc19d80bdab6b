"""OpenAI embeddings <-> Cohere /v2/embed."""
from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
import pytest

from bifrost_proxy.config.schema import KeyConfig, NetworkConfig, ProviderConfig
from bifrost_proxy.errors import BadRequest, UpstreamError
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.cohere import ADAPTER
from tests.fakes.recording import recording

PROVIDER = ProviderConfig("cohere", "cohere", (), NetworkConfig(base_url="https://api.cohere.com"))
RECORDED = recording("cohere_embed_response.json")


def call(**body: Any) -> Call:
    return Call(Endpoint.EMBEDDINGS, "embed-v4.0", {"model": "cohere/embed-v4.0", **body})


def upstream_body(**body: Any) -> dict[str, Any]:
    req = ADAPTER.build_request(call(**body), PROVIDER, KeyConfig("k", "v"))
    assert req.url == "https://api.cohere.com/v2/embed" and req.headers["Accept"] == "application/json"
    return orjson.loads(req.body)


def test_string_and_list_inputs() -> None:
    assert upstream_body(input="hello") == {"model": "embed-v4.0", "texts": ["hello"],
                                            "input_type": "search_document", "embedding_types": ["float"]}
    assert upstream_body(input=["a", "b"], user="u", encoding_format="base64")["texts"] == ["a", "b"]


def test_input_type_and_dimensions() -> None:
    body = upstream_body(input="q", input_type="search_query", dimensions=256)
    assert body["input_type"] == "search_query" and body["output_dimension"] == 256


@pytest.mark.parametrize("fields,param", [
    ({"input": [[1, 2, 3]]}, "input"), ({"input": [1, 2]}, "input"), ({"input": []}, "input"),
    ({"input": "x", "dimensions": 0}, "dimensions"),
])
def test_rejected_inputs(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as info:
        upstream_body(**fields)
    assert info.value.param == param


def test_recorded_answer_as_floats() -> None:
    out = orjson.loads(ADAPTER.parse_response(call(input=["hello", "goodbye"]), {}, RECORDED))
    recorded = orjson.loads(RECORDED)["embeddings"]["float"]
    assert out["object"] == "list" and out["model"] == "embed-v4.0"
    assert out["data"] == [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(recorded)]
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}


def test_base64_is_little_endian_float32() -> None:
    out = orjson.loads(ADAPTER.parse_response(call(input=["hello", "goodbye"], encoding_format="base64"), {},
                                              RECORDED))
    recorded = orjson.loads(RECORDED)["embeddings"]["float"]
    for item, vector in zip(out["data"], recorded, strict=True):
        raw = base64.b64decode(item["embedding"])
        assert len(raw) == 4 * len(vector)
        decoded = struct.unpack(f"<{len(vector)}f", raw)
        assert decoded == pytest.approx(vector, rel=1e-6)
    # exact bytes of a known value: 1.0 is 0x3f800000, little-endian 00 00 80 3f
    one = orjson.dumps({"embeddings": {"float": [[1.0, -2.0]]}})
    out = orjson.loads(ADAPTER.parse_response(call(input="x", encoding_format="base64"), {}, one))
    assert base64.b64decode(out["data"][0]["embedding"]) == b"\x00\x00\x80\x3f\x00\x00\x00\xc0"


def test_older_floats_answer_shape_and_token_fallback() -> None:
    raw = orjson.dumps({"id": "x", "embeddings": [[0.5]], "meta": {"tokens": {"input_tokens": 3}}})
    out = orjson.loads(ADAPTER.parse_response(call(input="x"), {}, raw))
    assert out["data"][0]["embedding"] == [0.5] and out["usage"]["prompt_tokens"] == 3


@pytest.mark.parametrize("raw", [b"nope", b'{"embeddings": {"int8": [[1]]}}', b'{"embeddings": {"float": [["a"]]}}'])
def test_malformed_answers(raw: bytes) -> None:
    with pytest.raises(UpstreamError):
        ADAPTER.parse_response(call(input="x", encoding_format="base64"), {}, raw)
