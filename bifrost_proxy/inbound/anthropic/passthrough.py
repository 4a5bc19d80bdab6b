"""Anthropic in, ``anthropic`` provider out: the client's body goes upstream untouched, the answer comes back
as Anthropic sent it.

Untouched means every field (thinking blocks and their signatures, ``cache_control``, ``metadata``, server
tools, betas not invented yet) except ``model``, which becomes the upstream model name (after the provider
prefix and any key alias), and ``fallbacks``, the gateway's own field, which the endpoint removed. The
client's ``anthropic-version`` and ``anthropic-beta`` headers go along (Claude Code depends on its betas);
``anthropic-beta`` values set in the provider's ``extra_headers`` are added to the client's. The upstream
gets the provider's key from the config, never the client's own ``x-api-key`` or ``Authorization``.

Answers are relayed byte for byte. Each stream event is still parsed once: an ``error`` event or garbage
becomes the gateway's error (so an error before the first event may be retried or fall back, and one after
it ends the stream with one ``event: error``), and the usage of ``message_start`` / ``message_delta`` is kept
in ``call.usage`` (OpenAI's shape) for the access log and metrics. ``count_tokens`` goes to
``/v1/messages/count_tokens`` the same way.
"""
from __future__ import annotations

from typing import Any, Mapping

import orjson

from bifrost_proxy.config.schema import KeyConfig, ProviderConfig
from bifrost_proxy.errors import GatewayError, UpstreamError
from bifrost_proxy.inbound.anthropic.errors import stream_error_frame
from bifrost_proxy.providers.anthropic import error_from_event, messages_url, openai_usage, \
    parse_anthropic_error, request_headers
from bifrost_proxy.providers.base import Call, Endpoint, UpstreamRequest
from bifrost_proxy.sse.decode import SSEEvent
from bifrost_proxy.sse.translate import SSETranslator, event_object

# call.flags names: the client's own headers a passthrough sends on
VERSION_FLAG = "anthropic-version"
BETA_FLAG = "anthropic-beta"
SUFFIXES = {Endpoint.CHAT: "", Endpoint.COUNT_TOKENS: "/count_tokens"}


class MessagesPassthroughDecoder(SSETranslator):
    """Relays an Anthropic stream event by event, as framed upstream; see the module docstring."""

    __slots__ = ("_call", "_usage")

    incomplete_message = "the upstream closed the stream before message_stop; the answer is cut short"

    def __init__(self, call: Call) -> None:
        super().__init__()
        self._call = call
        self._usage: dict[str, Any] = {}

    def _frames(self, events: list[SSEEvent]) -> list[bytes]:
        frames: list[bytes] = []
        try:
            for sse in events:
                obj = event_object(sse)
                kind = obj.get("type") or sse.event
                if kind == "error":
                    raise error_from_event(obj)
                if kind == "message_start":
                    message = obj.get("message")
                    self._merge(message.get("usage") if isinstance(message, dict) else None)
                elif kind == "message_delta":
                    self._merge(obj.get("usage"))
                frames.append(sse.raw)
                if kind == "message_stop":
                    self.done = True
                    break
        except GatewayError as exc:
            self.error = exc  # the frames before it are written first
        return frames

    def _merge(self, usage: Any) -> None:
        # message_delta counts are cumulative: the latest value of each field is the total
        if isinstance(usage, dict):
            self._usage.update((k, v) for k, v in usage.items() if v is not None)
            self._call.usage = openai_usage(self._usage)

    def error_frame(self, error: GatewayError) -> bytes:
        return stream_error_frame(error)


class MessagesPassthrough:
    """The ``Adapter`` an Anthropic client's call uses when its provider is of the ``anthropic`` wire type."""

    wire_type = "anthropic"

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint in SUFFIXES

    def validate(self, provider: ProviderConfig) -> list[str]:
        return []  # the provider's own adapter validated its config

    def build_request(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> UpstreamRequest:
        body = dict(call.native_body or {})
        body["model"] = call.model
        headers = request_headers(provider, key)
        version = call.flags.get(VERSION_FLAG)
        if version:
            for name in [k for k in headers if k.lower() == VERSION_FLAG]:
                del headers[name]
            headers[VERSION_FLAG] = version
        beta = call.flags.get(BETA_FLAG)
        if beta:
            configured = [k for k in headers if k.lower() == BETA_FLAG]
            values = [v.strip() for v in beta.split(",")]
            for name in configured:
                values += [v.strip() for v in headers.pop(name).split(",")]
            headers[BETA_FLAG] = ",".join(dict.fromkeys(v for v in values if v))
        return UpstreamRequest("POST", messages_url(provider, SUFFIXES[call.endpoint]), headers,
                               orjson.dumps(body))

    def parse_response(self, call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError("the upstream answered with malformed JSON",
                                code="malformed_upstream_response") from None
        if not isinstance(obj, dict):
            raise UpstreamError("the upstream answered JSON that is not an object", code="malformed_upstream_response")
        if call.endpoint is Endpoint.CHAT:
            call.usage = openai_usage(obj.get("usage"))
        return body

    def parse_error(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return parse_anthropic_error(status, headers, body)

    def stream_decoder(self, call: Call) -> MessagesPassthroughDecoder:
        return MessagesPassthroughDecoder(call)


PASSTHROUGH = MessagesPassthrough()
