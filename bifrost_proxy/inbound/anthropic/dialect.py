"""The Anthropic Messages dialect: what dispatch, the relay and the error middleware ask of it."""
from __future__ import annotations

from bifrost_proxy.config.schema import ProviderConfig
from bifrost_proxy.errors import GatewayError
from bifrost_proxy.inbound.anthropic import errors
from bifrost_proxy.inbound.anthropic.passthrough import PASSTHROUGH, MessagesPassthrough
from bifrost_proxy.inbound.anthropic.response import to_message
from bifrost_proxy.inbound.anthropic.stream import MessagesStreamTranslator
from bifrost_proxy.providers.base import Call


class AnthropicDialect:
    """Clients of ``/anthropic/v1/messages``: Claude Code, the Anthropic SDKs (see ``inbound/base.py``)."""

    name = "anthropic"
    default_provider = "anthropic"

    def passthrough_adapter(self, provider: ProviderConfig) -> MessagesPassthrough | None:
        return PASSTHROUGH if provider.type == "anthropic" else None

    def translate_response(self, call: Call, body: bytes) -> bytes:
        return to_message(call, body)

    def stream_translator(self, call: Call) -> MessagesStreamTranslator:
        return MessagesStreamTranslator(call)

    def error_response(self, error: GatewayError) -> tuple[int, bytes]:
        return errors.error_response(error)

    def stream_error_frame(self, error: GatewayError) -> bytes:
        return errors.stream_error_frame(error)


ANTHROPIC = AnthropicDialect()
