"""OpenAI embeddings <-> Gemini batchEmbedContents."""
from __future__ import annotations

import base64
import struct

import orjson
import pytest

from bifrost_proxy.config.load import parse_config
from bifrost_proxy.errors import BadRequest, UpstreamError
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.providers.gemini import ADAPTER

PROVIDER = parse_config({"providers": {"gemini": {"keys": [{"name": "k", "value": "AIza"}]}}}).providers["gemini"]


def call(**body):
    return Call(Endpoint.EMBEDDINGS, "text-embedding-004", {"model": "gemini/text-embedding-004", **body})


def test_request_for_a_list_of_texts():
    req = ADAPTER.build_request(call(input=["a", "b"], dimensions=256), PROVIDER, PROVIDER.keys[0])
    assert req.url == "https://generativelanguage.googleapis.com/v1beta/models/text-embedding-004:batchEmbedContents"
    assert orjson.loads(req.body) == {"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 256},
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 256},
    ]}


def test_request_for_one_string():
    req = ADAPTER.build_request(call(input="hello"), PROVIDER, PROVIDER.keys[0])
    assert orjson.loads(req.body) == {"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello"}]}}]}


@pytest.mark.parametrize("value", [[1, 2, 3], [[1, 2]], [], None, 5])
def test_token_ids_and_non_text_are_rejected(value):
    with pytest.raises(BadRequest) as info:
        ADAPTER.build_request(call(input=value), PROVIDER, PROVIDER.keys[0])
    assert info.value.param == "input"


def test_unknown_encoding_format_is_rejected():
    with pytest.raises(BadRequest):
        ADAPTER.build_request(call(input="a", encoding_format="int8"), PROVIDER, PROVIDER.keys[0])


UPSTREAM = orjson.dumps({"embeddings": [{"values": [0.5, -1.25, 3.0]}, {"values": [0.0, 1.0, 2.0]}]})


def test_float_response():
    out = orjson.loads(ADAPTER.parse_response(call(input=["a", "b"]), {}, UPSTREAM))
    assert out == {"object": "list", "model": "text-embedding-004",
                   "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.25, 3.0]},
                            {"object": "embedding", "index": 1, "embedding": [0.0, 1.0, 2.0]}],
                   "usage": {"prompt_tokens": 0, "total_tokens": 0}}


def test_base64_response_is_little_endian_float32():
    out = orjson.loads(ADAPTER.parse_response(call(input=["a", "b"], encoding_format="base64"), {}, UPSTREAM))
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert raw == bytes.fromhex("0000003f0000a0bf00004040")
    assert list(struct.unpack("<3f", raw)) == [0.5, -1.25, 3.0]


def test_usage_metadata_when_present():
    body = orjson.dumps({"embeddings": [{"values": [1.0]}], "usageMetadata": {"promptTokenCount": 4}})
    assert orjson.loads(ADAPTER.parse_response(call(input="a"), {}, body))["usage"] == {
        "prompt_tokens": 4, "total_tokens": 4}


@pytest.mark.parametrize("body", [b"nope", b"{}", b'{"embeddings": [{"values": "x"}]}'])
def test_malformed_embedding_answers(body):
    with pytest.raises(UpstreamError):
        ADAPTER.parse_response(call(input="a"), {}, body)
