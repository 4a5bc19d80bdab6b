"""POST /v1/chat/completions and POST /v1/completions."""
from __future__ import annotations

from aiohttp import web

from bifrost_proxy.endpoints.common import optional, read_json, serve_json_call
from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.base import Endpoint


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of messages", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest(f"'messages[{i}]' must be an object with a string 'role'", param=f"messages[{i}]")
    stream = _stream_flags(body)
    return await serve_json_call(request, Endpoint.CHAT, body, stream)


async def completions(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    prompt = body.get("prompt")
    if prompt is None or not isinstance(prompt, (str, list)):
        raise BadRequest("'prompt' must be a string or a list", param="prompt")
    stream = _stream_flags(body)
    return await serve_json_call(request, Endpoint.COMPLETIONS, body, stream)


def _stream_flags(body: dict) -> bool:
    stream = bool(optional(body, "stream", bool, "true or false"))
    options = optional(body, "stream_options", dict, "an object")
    if options is not None:
        if not stream:
            raise BadRequest("'stream_options' is only allowed with 'stream': true", param="stream_options")
        optional(options, "include_usage", bool, "true or false")
    return stream
