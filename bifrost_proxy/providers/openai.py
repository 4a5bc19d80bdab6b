"""The ``openai`` wire type: OpenAI and every OpenAI-compatible service (Azure, Groq, Mistral, vLLM, ...).

This is the fast path. Requests go upstream with only ``model`` rewritten and gateway-only fields
dropped; answers and stream events are relayed as the upstream framed them. Each stream event gets one
``orjson.loads`` so that garbage and error events never reach the client as data.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import orjson

from bifrost_proxy.config.defaults import KNOWN_PROVIDERS
from bifrost_proxy.config.schema import KeyConfig, ProviderConfig
from bifrost_proxy.errors import GatewayError, UpstreamError, from_upstream_status
from bifrost_proxy.providers.base import Call, Endpoint, UpstreamRequest
from bifrost_proxy.providers.errors import openai_stream_error, parse_retry_after
from bifrost_proxy.sse.encode import DONE_FRAME, raw_data_frame
from bifrost_proxy.sse.translate import SSETranslator

PATHS = {
    Endpoint.CHAT: "/chat/completions",
    Endpoint.COMPLETIONS: "/completions",
    Endpoint.EMBEDDINGS: "/embeddings",
    Endpoint.SPEECH: "/audio/speech",
    Endpoint.TRANSCRIPTION: "/audio/transcriptions",
    Endpoint.TRANSLATION: "/audio/translations",
    Endpoint.MODELS: "/models",
}
USAGE_ENDPOINTS = frozenset({Endpoint.CHAT, Endpoint.COMPLETIONS})
AUDIO_ENDPOINTS = frozenset({Endpoint.SPEECH, Endpoint.TRANSCRIPTION, Endpoint.TRANSLATION})
# Fields of ours that an upstream must never see.
GATEWAY_FIELDS = ("fallbacks",)
VERSIONED_PATH = re.compile(r"/v\d+[a-z0-9]*$")
AZURE_DEFAULT_API_VERSION = "2024-10-21"


def is_azure(provider: ProviderConfig, key: KeyConfig) -> bool:
    return provider.name == "azure" or bool(provider.options.get("azure")) or "endpoint" in key.settings


def api_root(provider: ProviderConfig) -> str:
    """``base_url`` plus the service's version prefix, unless the configured URL already ends in one."""
    base = provider.network.base_url
    if VERSIONED_PATH.search(base):
        return base
    known = KNOWN_PROVIDERS.get(provider.name)
    prefix = provider.options.get("path_prefix", known.path_prefix if known and known.type == "openai" else "/v1")
    return base + prefix


class OpenAIStreamDecoder(SSETranslator):
    """Relays an OpenAI-compatible SSE stream event by event, checking that each one parses."""

    __slots__ = ("_call", "_strip_usage")

    incomplete_message = ("the upstream closed the stream before it was complete (no [DONE]); "
                          "the answer is cut short")

    def __init__(self, call: Call) -> None:
        super().__init__()
        self._call = call
        # we asked for usage on the client's behalf: its usage-only chunk is ours, not the client's
        self._strip_usage = bool(call.flags.get("usage_added"))

    def _frames(self, events: list) -> list[bytes]:
        """Frames for whole events; a bad event ends the batch and is kept in ``error`` so the frames
        before it in the same read are still delivered."""
        frames: list[bytes] = []
        for event in events:
            data = event.data
            if data == b"[DONE]":
                self.done = True
                frames.append(DONE_FRAME)
                break
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                self.error = UpstreamError("the upstream sent a malformed stream event (not JSON)",
                                           code="malformed_upstream_event")
                break
            if type(obj) is dict:
                if obj.get("error"):
                    self.error = openai_stream_error(obj)
                    break
                usage = obj.get("usage")
                if usage:
                    self._call.usage = usage
                    if self._strip_usage and not obj.get("choices"):
                        continue
            if event.event == "error":
                self.error = openai_stream_error(obj)
                break
            frames.append(event.raw if event.event is None and event.raw.startswith(b"data: ")
                          and event.raw.count(b"\n") == 2 else raw_data_frame(data))
        return frames


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


class OpenAIAdapter:
    wire_type = "openai"

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint in PATHS

    def validate(self, provider: ProviderConfig) -> list[str]:
        problems = []
        if not provider.network.base_url and not all(k.settings.get("endpoint") for k in provider.keys):
            problems.append("network_config.base_url: required (or an endpoint in every key's azure_key_config)")
        mode = provider.options.get("responses_api")
        if mode is not None and mode not in ("native", "translate"):
            # /v1/responses clients: "native" passes them through to this provider's own /responses
            problems.append("options.responses_api: must be 'native' or 'translate'")
        return problems

    def url(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> str:
        path = PATHS[call.endpoint]
        if is_azure(provider, key):
            endpoint = str(key.settings.get("endpoint") or provider.network.base_url).rstrip("/")
            version = str(key.settings.get("api_version") or provider.options.get("api_version") or "v1")
            if version == "v1" or call.endpoint is Endpoint.MODELS:
                return f"{endpoint}/openai/v1{path}"
            # https://learn.microsoft.com/azure/ai-services/openai/reference: deployment in the path
            return f"{endpoint}/openai/deployments/{call.model}{path}?api-version={version}"
        return api_root(provider) + path

    def headers(self, provider: ProviderConfig, key: KeyConfig, content_type: str | None) -> dict[str, str]:
        headers = dict(provider.network.extra_headers)
        if content_type:
            headers["Content-Type"] = content_type
        if key.value:
            if is_azure(provider, key):
                headers["api-key"] = key.value
            else:
                headers["Authorization"] = "Bearer " + key.value
        return headers

    def build_request(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> UpstreamRequest:
        url = self.url(call, provider, key)
        if call.endpoint is Endpoint.MODELS:
            return UpstreamRequest("GET", url, self.headers(provider, key, None))
        if call.endpoint in AUDIO_ENDPOINTS:
            from bifrost_proxy.providers import openai_audio

            return openai_audio.build_request(call, url, self.headers(provider, key, None), provider)
        body = dict(call.body)
        body["model"] = call.model
        for name in GATEWAY_FIELDS:
            body.pop(name, None)
        if call.stream and call.endpoint in USAGE_ENDPOINTS and provider.options.get("stream_usage", True):
            options = body.get("stream_options") or {}
            if not options.get("include_usage"):
                # tokens are counted for every stream; the extra usage chunk is dropped by the decoder
                body["stream_options"] = {**options, "include_usage": True}
                call.flags["usage_added"] = True
        return UpstreamRequest("POST", url, self.headers(provider, key, "application/json"), orjson.dumps(body))

    def parse_response(self, call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
        if call.endpoint in AUDIO_ENDPOINTS:
            from bifrost_proxy.providers import openai_audio

            return openai_audio.parse_response(call, headers, body)
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError("the upstream answered with malformed JSON", code="malformed_upstream_response") \
                from None
        if type(obj) is dict and type(obj.get("usage")) is dict:
            call.usage = obj["usage"]
        return body

    def parse_error(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return parse_openai_error(status, headers, body)

    def response_media_type(self, call: Call, headers: Mapping[str, str]) -> str:
        """Non-stream answers are JSON, except audio ones (text, srt, vtt transcripts; speech bytes)."""
        if call.endpoint in AUDIO_ENDPOINTS:
            return headers.get("Content-Type", "application/octet-stream").split(";")[0]
        return "application/json"

    def stream_decoder(self, call: Call) -> OpenAIStreamDecoder:
        if call.endpoint in AUDIO_ENDPOINTS:
            from bifrost_proxy.providers import openai_audio

            return openai_audio.stream_decoder(call)
        return OpenAIStreamDecoder(call)


def parse_openai_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    """An upstream error answer in OpenAI's shape (``{"error": {...}}``), or anything else, mapped by status."""
    message, code, param, etype = None, None, None, None
    try:
        obj = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, dict):
            message = err.get("message") or err.get("detail")
            code, param, etype = _str(err.get("code")), _str(err.get("param")), err.get("type")
        elif isinstance(err, str):
            message = err
    if not message:
        message = f"the upstream answered HTTP {status}"
    out = from_upstream_status(status, str(message), code=code, param=param,
                               retry_after=parse_retry_after(headers),
                               error_type=str(etype) if etype and status < 500 else None)
    return out


ADAPTER = OpenAIAdapter()
