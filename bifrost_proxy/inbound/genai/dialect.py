"""The Gemini dialect (``inbound/base.py``'s ``Dialect``): clients of Google's Gemini API, google-genai first.

A ``gemini`` provider, and a ``vertex`` provider's Gemini models, speak it natively and get the request
untouched (``passthrough.py``); every other provider is reached through the OpenAI chat shape
(``request.py`` in, ``response.py`` and ``stream.py`` out). Errors take Google's shape (``errors.py``).

Streams carry no keep-alive comments: google-genai (Python) parses a ``: ping`` line as a JSON chunk and
raises ``UnknownApiResponseError``, and Google's JS SDKs expect every event to start with ``data: ``.
The Gemini API itself sends nothing between events, however long the model thinks.
"""
from __future__ import annotations

from bifrost_proxy.config.schema import ProviderConfig
from bifrost_proxy.errors import GatewayError
from bifrost_proxy.inbound.genai.errors import error_body, error_event
from bifrost_proxy.inbound.genai.passthrough import GEMINI_PASSTHROUGH, VERTEX_PASSTHROUGH
from bifrost_proxy.inbound.genai.request import include_thoughts
from bifrost_proxy.inbound.genai.response import to_gemini
from bifrost_proxy.inbound.genai.stream import GenaiStreamTranslator
from bifrost_proxy.providers.base import Adapter, Call
from bifrost_proxy.providers.vertex.adapter import publisher

NATIVE = {"gemini": GEMINI_PASSTHROUGH, "vertex": VERTEX_PASSTHROUGH}


class GenaiDialect:
    name = "genai"
    default_provider = "gemini"
    keepalive = False

    def passthrough_adapter(self, provider: ProviderConfig) -> Adapter | None:
        return NATIVE.get(provider.type)  # type: ignore[return-value]

    def speaks_natively(self, provider: ProviderConfig, model: str) -> bool:
        """Does ``provider`` get this model's requests untouched (Gemini-only features included)?"""
        return provider.type == "gemini" or provider.type == "vertex" and publisher(model) == "google"

    def translate_response(self, call: Call, body: bytes) -> bytes:
        return to_gemini(body, include_thoughts(call.native_body))

    def stream_translator(self, call: Call) -> GenaiStreamTranslator:
        return GenaiStreamTranslator(call)

    def error_response(self, error: GatewayError) -> tuple[int, bytes]:
        return error.status, error_body(error)

    def stream_error_frame(self, error: GatewayError) -> bytes:
        return error_event(error)


GENAI = GenaiDialect()
