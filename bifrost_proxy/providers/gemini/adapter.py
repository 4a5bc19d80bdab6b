"""The ``gemini`` adapter: URLs, headers and the choice of translator per endpoint."""
from __future__ import annotations

import re
from typing import Mapping
from urllib.parse import quote

import orjson

from bifrost_proxy.config.schema import KeyConfig, ProviderConfig
from bifrost_proxy.errors import BadRequest, GatewayError
from bifrost_proxy.providers.base import Call, Endpoint, UpstreamRequest
from bifrost_proxy.providers.gemini.embeddings import build_embed_body, parse_embed_response
from bifrost_proxy.providers.gemini.errors import parse_google_error
from bifrost_proxy.providers.gemini.request import build_generate_body
from bifrost_proxy.providers.gemini.response import parse_generate_response
from bifrost_proxy.providers.gemini.stream import GeminiStreamDecoder

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"
VERSIONED_PATH = re.compile(r"/v\d+[a-z0-9]*$")


def model_path(model: str) -> str:
    """The model's resource name: ``models/gemini-2.5-flash``; ``tunedModels/...`` stays as given."""
    return model if "/" in model else f"models/{model}"


class GeminiAdapter:
    wire_type = "gemini"

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint in (Endpoint.CHAT, Endpoint.EMBEDDINGS)

    def validate(self, provider: ProviderConfig) -> list[str]:
        version = provider.options.get("api_version", DEFAULT_API_VERSION)
        if not isinstance(version, str) or not re.fullmatch(r"v\d+[a-z0-9]*", version):
            return ["options.api_version: must look like v1 or v1beta"]
        return []

    def api_root(self, provider: ProviderConfig) -> str:
        base = provider.network.base_url or DEFAULT_BASE_URL
        if VERSIONED_PATH.search(base):
            return base
        return f"{base}/{provider.options.get('api_version', DEFAULT_API_VERSION)}"

    def generate_url(self, call: Call, provider: ProviderConfig) -> str:
        """``generateContent`` (``streamGenerateContent?alt=sse`` for streams) of ``call.model``."""
        url = f"{self.api_root(provider)}/{quote(model_path(call.model), safe='/@')}"
        return url + (":streamGenerateContent?alt=sse" if call.stream else ":generateContent")

    def headers(self, provider: ProviderConfig, key: KeyConfig) -> dict[str, str]:
        headers = dict(provider.network.extra_headers)
        headers["Content-Type"] = "application/json"
        if key.value:
            headers["x-goog-api-key"] = key.value
        return headers

    def build_request(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> UpstreamRequest:
        if call.endpoint is Endpoint.CHAT:
            body = build_generate_body(call)
            url = self.generate_url(call, provider)
        elif call.endpoint is Endpoint.EMBEDDINGS:
            path = model_path(call.model)
            body = build_embed_body(call, path)
            url = f"{self.api_root(provider)}/{quote(path, safe='/@')}:batchEmbedContents"
        else:
            raise BadRequest(f"the gemini wire type does not serve the {call.endpoint.value} endpoint")
        return UpstreamRequest("POST", url, self.headers(provider, key), orjson.dumps(body))

    def parse_response(self, call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
        if call.endpoint is Endpoint.EMBEDDINGS:
            return parse_embed_response(call, body)
        return parse_generate_response(call, body)

    def parse_error(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return parse_google_error(status, headers, body)

    def stream_decoder(self, call: Call) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(call)
