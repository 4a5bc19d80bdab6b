"""The client's Responses request, untouched but for ``model``, to an upstream with the Responses API.

The URL sits next to the provider's ``/chat/completions``: ``api_root + /responses`` (OpenAI and every
OpenAI-compatible service); Azure: ``{endpoint}/openai/v1/responses``, or
``{endpoint}/openai/responses?api-version=...`` when ``api_version`` names a preview
(https://learn.microsoft.com/azure/ai-foundry/openai/how-to/responses; the deployment is the body's
``model``, as key aliases set it). Auth headers and ``extra_headers`` are the openai adapter's own; the
client's own key never goes upstream. Gateway fields (``fallbacks``) are removed.

Answers and events are relayed as the upstream framed them; each event is parsed once so garbage becomes a
``response.failed`` instead of reaching the client, and the usage of the final Response (OpenAI's
``usage``, converted to the chat shape) is kept in ``call.usage`` for the access log and metrics.
"""
from __future__ import annotations

from typing import Any, Mapping

import orjson

from bifrost_proxy.config.schema import KeyConfig, ProviderConfig
from bifrost_proxy.errors import GatewayError, UpstreamError
from bifrost_proxy.inbound.responses.events import TERMINAL_EVENTS, failed_frame
from bifrost_proxy.inbound.responses.response import chat_usage, response_object
from bifrost_proxy.providers.base import Call, Endpoint, UpstreamRequest
from bifrost_proxy.providers.errors import openai_stream_error
from bifrost_proxy.providers.openai import ADAPTER as OPENAI, api_root, is_azure, parse_openai_error
from bifrost_proxy.sse.decode import SSEEvent
from bifrost_proxy.sse.translate import SSETranslator, event_object

GATEWAY_FIELDS = ("fallbacks",)


def responses_url(provider: ProviderConfig, key: KeyConfig) -> str:
    if is_azure(provider, key):
        endpoint = str(key.settings.get("endpoint") or provider.network.base_url).rstrip("/")
        version = str(key.settings.get("api_version") or provider.options.get("api_version") or "v1")
        # Azure serves /responses in its v1 API and in the dated previews since 2025-03-01-preview; a dated
        # GA version (the chat default, 2024-10-21) has none, so anything but a preview gets the v1 path
        if version.endswith("-preview"):
            return f"{endpoint}/openai/responses?api-version={version}"
        return f"{endpoint}/openai/v1/responses"
    return api_root(provider) + "/responses"


class ResponsesPassthroughDecoder(SSETranslator):
    """Relays a native Responses stream event by event; remembers what a ``response.failed`` of ours needs."""

    __slots__ = ("_call", "_seq", "_response", "_output")

    incomplete_message = ("the upstream closed the stream before it was complete (no response.completed); "
                          "the answer is cut short")

    def __init__(self, call: Call) -> None:
        super().__init__()
        self._call = call
        self._seq = -1
        self._response: dict[str, Any] | None = None  # the Response as response.created/in_progress gave it
        self._output: list[Any] = []  # items finished so far (response.output_item.done)

    def _frames(self, events: list[SSEEvent]) -> list[bytes]:
        frames: list[bytes] = []
        for event in events:
            if event.data == b"[DONE]":  # not OpenAI's, but some compatible servers end this way
                self.done = True
                frames.append(event.raw)
                break
            try:
                obj = event_object(event)
            except UpstreamError as exc:
                self.error = exc
                break
            kind = obj.get("type")
            if not isinstance(kind, str):
                kind = event.event or ""
            if kind == "error" and self._seq < 0:
                # an error before anything reached the client: still a status, so it may be retried
                self.error = openai_stream_error(obj)
                break
            seq = obj.get("sequence_number")
            if type(seq) is int:
                self._seq = seq
            response = obj.get("response")
            if isinstance(response, dict):
                self._response = response
            elif kind == "response.output_item.done":
                self._output.append(obj.get("item"))
            frames.append(event.raw)
            if kind in TERMINAL_EVENTS:
                if isinstance(response, dict):
                    self._call.usage = chat_usage(response.get("usage")) or self._call.usage
                self.done = True
                break
        return frames

    def error_frame(self, error: GatewayError) -> bytes:
        response = self._response
        if response is None:
            response = response_object(self._call.native_body or {}, "resp_unknown", 0, self._call.model,
                                       "in_progress", [])
        return failed_frame(self._seq + 1, {**response, "output": self._output}, error)


class ResponsesPassthroughAdapter:
    """An ``Adapter`` (``providers/base.py``) for the one endpoint it serves: the client's native body."""

    wire_type = "openai"

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint is Endpoint.CHAT

    def validate(self, provider: ProviderConfig) -> list[str]:
        return []  # the openai adapter validates the provider, responses_api included

    def build_request(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> UpstreamRequest:
        body = dict(call.native_body or {})
        body["model"] = call.model
        for name in GATEWAY_FIELDS:
            body.pop(name, None)
        return UpstreamRequest("POST", responses_url(provider, key),
                               OPENAI.headers(provider, key, "application/json"), orjson.dumps(body))

    def parse_response(self, call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError("the upstream answered with malformed JSON", code="malformed_upstream_response") \
                from None
        if isinstance(obj, dict):
            call.usage = chat_usage(obj.get("usage"))
        return body

    def parse_error(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return parse_openai_error(status, headers, body)

    def stream_decoder(self, call: Call) -> ResponsesPassthroughDecoder:
        return ResponsesPassthroughDecoder(call)


ADAPTER = ResponsesPassthroughAdapter()
