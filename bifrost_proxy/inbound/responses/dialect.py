"""The Responses dialect: the object the request path asks how to serve a ``/v1/responses`` client."""
from __future__ import annotations

from typing import TYPE_CHECKING

from bifrost_proxy.errors import GatewayError
from bifrost_proxy.inbound.responses import errors, passthrough
from bifrost_proxy.inbound.responses.events import failed_frame
from bifrost_proxy.inbound.responses.response import new_response_id, response_object, translate_completion
from bifrost_proxy.inbound.responses.stream import ResponsesStreamTranslator

if TYPE_CHECKING:
    from bifrost_proxy.config.schema import ProviderConfig
    from bifrost_proxy.providers.base import Adapter, Call

# providers that have the Responses API unless their options.responses_api says "translate"
NATIVE_BY_DEFAULT = frozenset({"openai", "azure"})
RESPONSES_API_MODES = ("native", "translate")


def speaks_responses(provider: "ProviderConfig") -> bool:
    """Whether ``provider`` serves ``/responses`` itself (most OpenAI-compatible services have only chat)."""
    if provider.type != "openai":
        return False
    mode = provider.options.get("responses_api")
    return provider.name in NATIVE_BY_DEFAULT if mode is None else mode == "native"


class ResponsesDialect:
    """The ``Dialect`` (``inbound/base.py``) of OpenAI's Responses API; one per process, no state."""

    __slots__ = ()
    name = "responses"
    default_provider = "openai"

    def passthrough_adapter(self, provider: "ProviderConfig") -> "Adapter | None":
        return passthrough.ADAPTER if speaks_responses(provider) else None

    def translate_response(self, call: "Call", body: bytes) -> bytes:
        return translate_completion(call, body)

    def stream_translator(self, call: "Call") -> ResponsesStreamTranslator:
        return ResponsesStreamTranslator(call)

    def error_response(self, error: GatewayError) -> tuple[int, bytes]:
        return errors.error_response(error)

    def stream_error_frame(self, error: GatewayError) -> bytes:
        # only reached without a translator's state (it answers with the stream's own id and number)
        return failed_frame(0, response_object({}, new_response_id(), 0, "", "in_progress", []), error)


DIALECT = ResponsesDialect()
