"""POST /v1/audio/speech: text to speech, relayed to the client as the provider generates the audio.

Validation answers 400 naming the field before any provider is called. The call is always a stream
(``call.stream = True``): raw audio goes out chunk by chunk with the Content-Type of ``response_format``;
``stream_format: "sse"`` gets ``speech.audio.delta`` events, ``speech.audio.done`` and ``[DONE]``.
"""
from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from bifrost_proxy.appkeys import OUTCOME, RUNTIME
from bifrost_proxy.audio.formats import SPEECH_MEDIA_TYPES, STREAM_FORMATS
from bifrost_proxy.endpoints.common import optional, read_json
from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.routing.dispatch import dispatch
from bifrost_proxy.routing.outcome import Outcome
from bifrost_proxy.routing.plan import Target, plan

# longest ``input`` per wire type when neither the provider option nor the adapter says (OpenAI's limit)
DEFAULT_INPUT_LIMITS = {"openai": 4096}
SPEED_RANGE = (0.25, 4.0)


async def speech(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    text = validate_speech(body)
    targets = plan(request.app[RUNTIME].current, body)
    limit = input_limit(targets[0])
    if limit is not None and len(text) > limit:
        raise BadRequest(f"'input' is {len(text)} characters long; {targets[0].label} takes at most {limit}",
                         param="input", code="input_too_long")
    outcome = Outcome()
    request[OUTCOME] = outcome
    call = Call(endpoint=Endpoint.SPEECH, model=targets[0].model, body=body, stream=True)
    return await dispatch(request, call, targets, outcome)


def validate_speech(body: dict[str, Any]) -> str:
    """Check the fields of OpenAI's create-speech request; returns ``input``."""
    text = body.get("input")
    if text is None:
        raise BadRequest("'input' is required: the text to speak", param="input")
    if not isinstance(text, str):
        raise BadRequest("'input' must be a string", param="input")
    if not text.strip():
        raise BadRequest("'input' must not be empty", param="input")
    voice = body.get("voice")
    if voice is None:
        raise BadRequest("'voice' is required: a voice name like 'alloy' (or the provider's voice id)",
                         param="voice")
    if isinstance(voice, dict):
        voice = voice.get("id")
    if not isinstance(voice, str) or not voice.strip():
        raise BadRequest("'voice' must be a non-empty string or an object with a string 'id'", param="voice")
    _one_of(body, "response_format", SPEECH_MEDIA_TYPES)
    _one_of(body, "stream_format", STREAM_FORMATS)
    speed = optional(body, "speed", (int, float), "a number")
    if speed is not None and not (math.isfinite(speed) and SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]):
        raise BadRequest(f"'speed' must be between {SPEED_RANGE[0]} and {SPEED_RANGE[1]}", param="speed")
    optional(body, "instructions", str, "a string")
    return text


def _one_of(body: dict[str, Any], name: str, allowed) -> None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or value not in allowed):
        raise BadRequest(f"'{name}' must be one of {', '.join(sorted(allowed))}", param=name,
                         code=f"unsupported_{name}")


def input_limit(target: Target) -> int | None:
    """Provider option ``max_speech_input_chars``, else the adapter's per-model limit, else the wire type's."""
    config = target.provider.config
    configured = config.options.get("max_speech_input_chars")
    if isinstance(configured, int) and not isinstance(configured, bool) and configured > 0:
        return configured
    per_model = getattr(target.provider.adapter, "max_speech_input_chars", None)
    if per_model is not None:
        return per_model(target.model)
    return DEFAULT_INPUT_LIMITS.get(config.type)
