"""The ``anthropic`` wire type: Anthropic's Messages API (``POST {base_url}/v1/messages``), chat only.

Headers: ``x-api-key``, ``anthropic-version`` (``2023-06-01``, or ``options.anthropic_version``),
``content-type: application/json``, plus ``network_config.extra_headers`` (e.g. ``anthropic-beta``).
Options: ``anthropic_version`` (string), ``default_max_tokens`` (positive integer; replaces the per-model
default of ``request.py``). Parameters follow the rule shared by every native adapter
(``providers/params.py``): mapped when Anthropic has an equivalent (the table in ``request.py``), else
refused with 400 ``unsupported_parameter`` when honouring them would change what the answer contains
(``n`` > 1, ``logprobs``, ``top_logprobs``, non-text ``modalities``, ``audio``, ``web_search_options``,
non-function tools, unreadable content parts), else dropped (sampling and labelling parameters, names
OpenAI does not define). Answers in ``response.py``; streams in ``stream.py``; errors in ``errors.py``.

Helpers for adapters that host Anthropic models behind another envelope (Vertex: same body without
``model`` plus ``anthropic_version: "vertex-2023-10-16"``):

- ``build_messages_body(call, default_max=None) -> dict``: the request body
- ``parse_message(call, obj, created=None) -> dict``: an Anthropic Message as an OpenAI completion
- ``AnthropicStreamDecoder(call)``: the stream translator (``feed``/``finish``)
- ``parse_anthropic_error(status, headers, body)`` and ``error_from_event(obj)``: errors
- ``messages_url(provider, suffix="")`` and ``request_headers(provider, key)``: where and how to send
  (the Anthropic inbound API's passthrough sends its clients' bodies with them)
"""
from __future__ import annotations

import re
from typing import Mapping

import orjson

from bifrost_proxy.config.schema import KeyConfig, ProviderConfig
from bifrost_proxy.errors import GatewayError, UpstreamError
from bifrost_proxy.providers.anthropic.errors import error_from_event, parse_anthropic_error
from bifrost_proxy.providers.anthropic.request import build_messages_body, default_max_tokens
from bifrost_proxy.providers.anthropic.response import openai_usage, parse_message
from bifrost_proxy.providers.anthropic.stream import AnthropicStreamDecoder
from bifrost_proxy.providers.base import Call, Endpoint, UpstreamRequest

__all__ = ["ADAPTER", "AnthropicAdapter", "AnthropicStreamDecoder", "build_messages_body", "default_max_tokens",
           "error_from_event", "openai_usage", "parse_anthropic_error", "parse_message", "ANTHROPIC_VERSION",
           "messages_url", "request_headers"]

ANTHROPIC_VERSION = "2023-06-01"
_VERSIONED_PATH = re.compile(r"/v\d+$")


class AnthropicAdapter:
    wire_type = "anthropic"

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint is Endpoint.CHAT

    def validate(self, provider: ProviderConfig) -> list[str]:
        problems = []
        if not provider.network.base_url:
            problems.append("network_config.base_url: required (https://api.anthropic.com)")
        version = provider.options.get("anthropic_version", ANTHROPIC_VERSION)
        if not isinstance(version, str) or not version.strip():
            problems.append("options.anthropic_version: must be a non-empty string such as \"2023-06-01\"")
        default_max = provider.options.get("default_max_tokens")
        if default_max is not None and (type(default_max) is not int or default_max < 1):
            problems.append("options.default_max_tokens: must be a positive integer")
        return problems

    def build_request(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> UpstreamRequest:
        body = build_messages_body(call, provider.options.get("default_max_tokens"))
        return UpstreamRequest("POST", messages_url(provider), request_headers(provider, key), orjson.dumps(body))

    def parse_response(self, call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError("the upstream answered with malformed JSON",
                                code="malformed_upstream_response") from None
        answer = parse_message(call, obj)
        call.usage = answer["usage"]
        return orjson.dumps(answer)

    def parse_error(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return parse_anthropic_error(status, headers, body)

    def stream_decoder(self, call: Call) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(call)


def messages_url(provider: ProviderConfig, suffix: str = "") -> str:
    """``{base_url}/v1/messages`` (``/messages`` when base_url already ends in a version), plus ``suffix``
    (``/count_tokens``)."""
    base = provider.network.base_url.rstrip("/")
    return base + ("/messages" if _VERSIONED_PATH.search(base) else "/v1/messages") + suffix


def request_headers(provider: ProviderConfig, key: KeyConfig) -> dict[str, str]:
    """extra_headers, ``anthropic-version``, the JSON content type and the provider's key."""
    # extra_headers may also set anthropic-version; never the body type or the key
    headers = {k: v for k, v in provider.network.extra_headers.items()
               if k.lower() not in ("content-type", "x-api-key")}
    if not any(k.lower() == "anthropic-version" for k in headers):
        headers["anthropic-version"] = str(provider.options.get("anthropic_version", ANTHROPIC_VERSION))
    headers["Content-Type"] = "application/json"
    if key.value:
        headers["x-api-key"] = key.value
    return headers


ADAPTER = AnthropicAdapter()
