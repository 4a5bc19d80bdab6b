"""POST /v1/embeddings."""
from __future__ import annotations

from aiohttp import web

from bifrost_proxy.endpoints.common import read_json, serve_json_call
from bifrost_proxy.errors import BadRequest
from bifrost_proxy.providers.base import Endpoint

ENCODING_FORMATS = ("float", "base64")


async def embeddings(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    value = body.get("input")
    if isinstance(value, str):
        if not value:
            raise BadRequest("'input' must not be empty", param="input")
    elif not isinstance(value, list) or not value:
        raise BadRequest("'input' must be a string or a non-empty list of strings or token arrays", param="input")
    encoding = body.get("encoding_format", "float")
    if encoding not in ENCODING_FORMATS:
        raise BadRequest(f"'encoding_format' must be one of {', '.join(ENCODING_FORMATS)}", param="encoding_format")
    if body.get("stream"):
        raise BadRequest("embeddings cannot be streamed", param="stream")
    return await serve_json_call(request, Endpoint.EMBEDDINGS, body, False)
