"""The ``cohere`` wire type: Cohere's v2 API (https://docs.cohere.com/reference/chat) behind OpenAI's.

``POST {base_url}/v2/chat`` and ``POST {base_url}/v2/embed`` with ``Authorization: Bearer <key>``; the
base URL defaults to https://api.cohere.com (a base URL that already ends in ``/v2`` is used as is).
Chat and embeddings only; other endpoints answer 404 from dispatch.

Chat request, parameter by parameter (``request.py``):

==========================================  ===========================================================
OpenAI                                      Cohere v2
==========================================  ===========================================================
messages system / developer                 role ``system`` (text or text parts)
messages user                               role ``user``: text, text parts and ``image_url`` parts
                                            (URLs or data: URLs, ``detail`` kept) for vision models
messages assistant                          role ``assistant``; ``tool_calls`` as they are (Cohere's
                                            shape is OpenAI's); text next to tool calls -> ``tool_plan``
messages tool                               role ``tool`` with ``tool_call_id`` and the content
temperature, seed, frequency_penalty,       same names, passed as given (Cohere checks the ranges and
presence_penalty                            answers 400 itself, e.g. for a temperature above 1)
top_p / top_k (extension)                   ``p`` / ``k``
stop (string or list)                       ``stop_sequences``
max_completion_tokens, else max_tokens      ``max_tokens``
tools (type function)                       ``tools`` (same shape; ``parameters`` defaults to an empty
                                            object schema); any ``strict: true`` -> ``strict_tools``
tool_choice auto / none / required          left out / ``NONE`` / ``REQUIRED``
tool_choice {"function": {"name": N}}       ``REQUIRED`` with only tool N offered (Cohere cannot force
                                            one tool by name; this has the same effect)
functions / function_call (deprecated)      as tools / tool_choice
response_format json_object                 ``{"type": "json_object"}``
response_format json_schema                 ``{"type": "json_object", "json_schema": <schema>}``
stream, stream_options.include_usage        ``stream: true``; usage is always in ``message-end``
==========================================  ===========================================================

Map, drop or reject: the rule every native adapter shares (``providers/params.py``). A parameter Cohere
has no equivalent for is **rejected** with 400 ``unsupported_parameter`` naming it when honouring it
would change what the answer contains (``n`` > 1, ``logprobs`` true, ``top_logprobs``, non-text
``modalities``, ``audio``, ``web_search_options``, content parts other than text and images, tools that
are not functions), and **dropped** when it only tunes sampling or labels the call (``logit_bias``,
``parallel_tool_calls``, ``user``, ``metadata``, ``store``, ``service_tier``, ``prediction``,
``prompt_cache_key``, ``safety_identifier``, ``verbosity``, ``reasoning_effort``, ``modalities:
["text"]``, ``logprobs: false``, message ``name``), as are names OpenAI does not define. The deprecated
``function`` role is a 400: it carries no tool call id, which Cohere needs.

Answers: see ``response.py`` (non-stream), ``stream.py`` (the event table) and ``embeddings.py``.
Finish reasons COMPLETE and STOP_SEQUENCE -> ``stop``, MAX_TOKENS -> ``length``, TOOL_CALL ->
``tool_calls``; ERROR and TIMEOUT are raised as errors (502 / 504). Cohere's tool plan is returned as the
assistant's content when there is no other text; citations and thinking blocks are left out.
"""
from __future__ import annotations

from typing import Mapping

import orjson

from bifrost_proxy.config.schema import KeyConfig, ProviderConfig
from bifrost_proxy.errors import GatewayError
from bifrost_proxy.providers.base import Call, Endpoint, UpstreamRequest
from bifrost_proxy.providers.cohere.embeddings import build_embed_body, parse_embed_response
from bifrost_proxy.providers.cohere.errors import parse_cohere_error
from bifrost_proxy.providers.cohere.request import build_chat_body
from bifrost_proxy.providers.cohere.response import parse_chat_response
from bifrost_proxy.providers.cohere.stream import CohereStreamDecoder

DEFAULT_BASE_URL = "https://api.cohere.com"
PATHS = {Endpoint.CHAT: "/chat", Endpoint.EMBEDDINGS: "/embed"}


def api_root(provider: ProviderConfig) -> str:
    base = (provider.network.base_url or DEFAULT_BASE_URL).rstrip("/")
    return base if base.endswith("/v2") else base + "/v2"


class CohereAdapter:
    """Pure translation between OpenAI's API and Cohere's v2 API (see the module docstring)."""

    wire_type = "cohere"

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint in PATHS

    def validate(self, provider: ProviderConfig) -> list[str]:
        base = provider.network.base_url
        if base and not base.startswith(("http://", "https://")):
            return ["network_config.base_url: must start with http:// or https://"]
        return []

    def build_request(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> UpstreamRequest:
        body = build_embed_body(call) if call.endpoint is Endpoint.EMBEDDINGS else build_chat_body(call)
        headers = dict(provider.network.extra_headers)
        headers["Content-Type"] = "application/json"
        headers["Accept"] = "text/event-stream" if call.stream else "application/json"
        if key.value:
            headers["Authorization"] = "Bearer " + key.value
        return UpstreamRequest("POST", api_root(provider) + PATHS[call.endpoint], headers, orjson.dumps(body))

    def parse_response(self, call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
        if call.endpoint is Endpoint.EMBEDDINGS:
            return parse_embed_response(call, body)
        return parse_chat_response(call, body)

    def parse_error(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return parse_cohere_error(status, headers, body)

    def stream_decoder(self, call: Call) -> CohereStreamDecoder:
        return CohereStreamDecoder(call)


ADAPTER = CohereAdapter()
