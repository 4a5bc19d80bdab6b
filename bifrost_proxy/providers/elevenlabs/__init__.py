"""The ``elevenlabs`` wire type: ElevenLabs text to speech and speech to text behind OpenAI's audio API.

``POST {base_url}/v1/text-to-speech/{voice}/stream`` (``speech.py``) and ``POST {base_url}/v1/speech-to-text``
(``transcription.py``) with the ``xi-api-key`` header; the base URL defaults to https://api.elevenlabs.io
(one that already ends in ``/v1`` is used as is). Speech and transcriptions only; other endpoints answer 404
from dispatch.

Speech is raw audio as it is generated: relayed as is, or wrapped into ``speech.audio.delta`` events for
``stream_format: "sse"`` (``audio/decoders.py``). Transcripts are one answer: for ``stream=true`` the text
becomes one delta plus the done event. Errors: ``errors.py``.
"""
from __future__ import annotations

from typing import Any, Mapping

from bifrost_proxy.audio.decoders import OneShotTranscript, RawAudioRelay, SpeechSSEWrap
from bifrost_proxy.audio.formats import TRANSCRIPT_MEDIA_TYPES, speech_media_type, transcript_format, wants_sse
from bifrost_proxy.config.schema import KeyConfig, ProviderConfig
from bifrost_proxy.errors import GatewayError
from bifrost_proxy.providers.base import Call, Endpoint, UpstreamRequest
from bifrost_proxy.providers.elevenlabs.errors import parse_elevenlabs_error
from bifrost_proxy.providers.elevenlabs.speech import build_speech_request, max_input_chars
from bifrost_proxy.providers.elevenlabs.transcription import (build_transcription_request, parse_transcript,
                                                              transcript_text)

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
ENDPOINTS = frozenset({Endpoint.SPEECH, Endpoint.TRANSCRIPTION})


def api_root(provider: ProviderConfig) -> str:
    base = (provider.network.base_url or DEFAULT_BASE_URL).rstrip("/")
    return base[:-3] if base.endswith("/v1") else base


class ElevenLabsAdapter:
    """Pure translation between OpenAI's audio API and ElevenLabs' (see the module docstring)."""

    wire_type = "elevenlabs"

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint in ENDPOINTS

    def validate(self, provider: ProviderConfig) -> list[str]:
        base = provider.network.base_url
        if base and not base.startswith(("http://", "https://")):
            return ["network_config.base_url: must start with http:// or https://"]
        return []

    def max_speech_input_chars(self, model: str) -> int | None:
        """The longest ``input`` the model takes, for the speech endpoint's 400 (None: unknown)."""
        return max_input_chars(model)

    def build_request(self, call: Call, provider: ProviderConfig, key: KeyConfig) -> UpstreamRequest:
        headers = dict(provider.network.extra_headers)
        if key.value:
            headers["xi-api-key"] = key.value
        if call.endpoint is Endpoint.SPEECH:
            return build_speech_request(call, api_root(provider), headers)
        return build_transcription_request(call, api_root(provider), headers)

    def parse_response(self, call: Call, headers: Mapping[str, str], body: bytes) -> bytes:
        if call.endpoint is Endpoint.SPEECH:
            return body
        return parse_transcript(call, body)

    def response_media_type(self, call: Call, headers: Mapping[str, str]) -> str:
        if call.endpoint is Endpoint.SPEECH:
            return speech_media_type(call.body)
        return TRANSCRIPT_MEDIA_TYPES[transcript_format(call.body)]

    def parse_error(self, call: Call, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return parse_elevenlabs_error(status, headers, body)

    def stream_decoder(self, call: Call) -> Any:
        if call.endpoint is Endpoint.SPEECH:
            return SpeechSSEWrap(call) if wants_sse(call.body) else RawAudioRelay(speech_media_type(call.body))
        return OneShotTranscript(call, transcript_text)


ADAPTER = ElevenLabsAdapter()
