"""The adapter interface: how a wire type turns OpenAI-shaped calls into upstream requests and back.

An adapter is data plus pure functions. It never does I/O and never touches aiohttp objects, so it is
tested without a loop, a socket or a mock. ``routing/dispatch.py`` does the I/O around it:

    request = adapter.build_request(call, provider, key)         # method, URL, headers, body
    ... the upstream answers status, headers, body bytes ...
    error   = adapter.parse_error(call, status, headers, body)    # when status >= 400
    answer  = adapter.parse_response(call, headers, body)         # non-stream: OpenAI-shaped JSON bytes
    decoder = adapter.stream_decoder(call)                        # stream: feed(bytes)/finish() -> frames

A stream decoder returns whole frames ready to write to the client: for SSE media types, each frame is one
``data: ...\\n\\n`` event (the ``data: [DONE]\\n\\n`` frame included, and ``decoder.done`` set once it is
out); for other media types (raw audio), frames are byte chunks. A decoder raises a ``GatewayError`` for an
upstream error event or for garbage: before the first frame reached the client that is answered as a status
and may be retried; after it, the relay writes one error event and ends the stream without ``[DONE]``.
A decoder may instead return the good frames of a read and keep the error in its ``error`` attribute: the
relay writes those frames, then fails the stream with it, without waiting for more upstream bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, AsyncIterable, Mapping, Protocol

from bifrost_proxy.config.schema import KeyConfig, ProviderConfig
from bifrost_proxy.errors import GatewayError

if TYPE_CHECKING:
    from bifrost_proxy.inbound.base import Dialect

SSE_MEDIA_TYPE = "text/event-stream"


class Endpoint(str, Enum):
    CHAT = "chat"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    SPEECH = "speech"
    TRANSCRIPTION = "transcription"
    TRANSLATION = "translation"
    MODELS = "models"
    COUNT_TOKENS = "count_tokens"  # Anthropic's /v1/messages/count_tokens, served by its passthrough only


@dataclass(slots=True)
class Call:
    """One client call as the endpoint parsed it, before a provider is chosen.

    ``body`` is the OpenAI-shaped request (JSON endpoints: the parsed object, with ``model`` still as the
    client sent it; audio uploads: the form fields). ``model`` is the upstream model name after the
    provider prefix and any key alias. ``upload`` is an audio upload's file, streamed.
    """

    endpoint: Endpoint
    model: str
    body: dict[str, Any]
    stream: bool = False
    upload: "Upload | None" = None
    # what the client asked for that an adapter may need (e.g. include_usage it added itself)
    flags: dict[str, Any] = field(default_factory=dict)
    # set by dispatch before stream_decoder() is called: the upstream's response headers
    upstream_headers: Mapping[str, str] | None = None
    # set by adapters/decoders when the upstream reports usage, in OpenAI's shape
    # ({"prompt_tokens": n, "completion_tokens": n, ...}); read by the access log and metrics
    usage: dict[str, Any] | None = None
    # the client's own API when it is not OpenAI's (inbound/): ``body`` is then its OpenAI translation and
    # ``native_body`` the request as the client sent it, for a provider that speaks that API natively
    dialect: "Dialect | None" = None
    native_body: dict[str, Any] | None = None


@dataclass(slots=True)
class Upload:
    """An uploaded file: name, media type, and its bytes as an async iterable factory (re-readable)."""

    filename: str
    content_type: str
    size: int
    open: Any  # () -> AsyncIterable[bytes]; called once per upstream attempt


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | AsyncIterable[bytes] | Any | None = None  # bytes, or an aiohttp payload built by dispatch


class StreamDecoder(Protocol):
    media_type: str
    done: bool
    # optional: error: GatewayError | None, set when a read ended in a bad event (see the module docstring)

    def feed(self, data: bytes) -> list[bytes]:
        """Take the next upstream bytes; return the whole frames they completed."""

    def finish(self) -> list[bytes]:
        """The upstream closed: return what is left, or raise if the stream was cut short."""


class Adapter(Protocol):
    """One wire type. Methods are pure; see the module docstring for the order they are used in."""

    wire_type: str

    def supports(self, endpoint: Endpoint) -> bool: ...

    def validate(self, provider: ProviderConfig) -> list[str]:
        """Problems with this provider's config, each ``field.path: what is wrong`` relative to it."""

    def build_request(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> UpstreamRequest: ...

    def parse_response(self, call: Call, headers: Mapping[str, str], body: bytes) -> bytes: ...

    def parse_error(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError: ...

    def stream_decoder(self, call: Call) -> StreamDecoder: ...
