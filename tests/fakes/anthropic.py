"""A fake Anthropic Messages API (``POST /v1/messages``): real wire format, steered per model.

Recordings (tests/fakes/recordings/anthropic_*) are the samples of Anthropic's streaming, Messages and
errors docs; ``anthropic_overloaded.sse`` is the docs' text stream cut by the docs' ``overloaded_error``
event. Like Anthropic, the fake refuses a request without ``x-api-key``, ``anthropic-version``,
``max_tokens`` or ``messages`` (400/401 with Anthropic's error body), and one whose key is not in
``valid_keys`` when that is set. ``POST /v1/messages/count_tokens`` answers ``input_tokens``.

Tests queue ``Reply``s for a model; each call takes the next one (the last one repeats). Without a queued
reply a call answers the recorded text message (the recorded tool-use message when the request offers
tools), streamed when the request says ``stream: true``. A reply can instead answer an error status with
Anthropic's error body, stream other events, wait on ``gate``, hang, reset the connection, or stop early.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.recording import recording, sse_events

STREAM = sse_events(recording("anthropic_text.sse"))
TOOLS_STREAM = sse_events(recording("anthropic_tool_use.sse"))
THINKING_STREAM = sse_events(recording("anthropic_thinking.sse"))
OVERLOADED_STREAM = sse_events(recording("anthropic_overloaded.sse"))
MESSAGE = recording("anthropic_message.json")
TOOLS_MESSAGE = recording("anthropic_tool_use.json")


@dataclass
class Reply:
    status: int = 200
    body: bytes | None = None  # non-stream answer (default: a recording, see the module docstring)
    events: list[bytes] | None = None  # stream events (default: a recording)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # between events
    hang_before: bool = False  # accept the request, never answer
    hang_after: int | None = None  # send this many events, then stall forever
    reset_after: int | None = None  # send this many events, then cut the connection
    stop_after: int | None = None  # send this many events, then end the body cleanly (truncated stream)
    gate_after: int | None = None  # send this many events, then wait for FakeAnthropic.gate
    error_type: str = "api_error"
    error_message: str = "fake upstream error"


@dataclass
class SeenCall:
    path: str
    headers: dict[str, str]
    body: Any
    key: str | None


def error_body(etype: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": etype, "message": message},
                         "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"})


class FakeAnthropic:
    def __init__(self, valid_keys: set[str] | None = None) -> None:
        self.valid_keys = valid_keys
        self.replies: dict[str, list[Reply]] = {}
        self.calls: list[SeenCall] = []
        self.gate = asyncio.Event()
        self.event_sent = asyncio.Event()  # set after every event written; tests clear it
        self.client_gone = asyncio.Event()
        self.base_url = ""
        self.app = web.Application()
        self.app.router.add_post("/v1/messages", self.handle)
        self.app.router.add_post("/v1/messages/count_tokens", self.count_tokens)
        self.input_tokens = 14  # what count_tokens answers

    def queue(self, model: str, *replies: Reply) -> None:
        self.replies.setdefault(model, []).extend(replies)

    def _next(self, model: str) -> Reply:
        queued = self.replies.get(model)
        if not queued:
            return Reply()
        return queued.pop(0) if len(queued) > 1 else queued[0]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        key = request.headers.get("x-api-key")
        self.calls.append(SeenCall(request.path, dict(request.headers), body, key))
        refusal = self._refusal(request, body, key)
        if refusal is not None:
            return refusal
        try:
            return await self._answer(request, body, self._next(body["model"]))
        except (asyncio.CancelledError, ConnectionResetError):
            self.client_gone.set()
            raise

    async def count_tokens(self, request: web.Request) -> web.Response:
        """``POST /v1/messages/count_tokens``: ``{"input_tokens": N}``, or Anthropic's refusal."""
        body = orjson.loads(await request.read())
        key = request.headers.get("x-api-key")
        self.calls.append(SeenCall(request.path, dict(request.headers), body, key))
        refusal = self._refusal(request, {"max_tokens": 0, **body}, key)
        return refusal or web.json_response({"input_tokens": self.input_tokens})

    def _refusal(self, request: web.Request, body: Any, key: str | None) -> web.Response | None:
        if not key or (self.valid_keys is not None and key not in self.valid_keys):
            return _error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        if not isinstance(body, dict):
            return _error(400, "invalid_request_error", "the body is not a JSON object")
        for name, kind in (("model", str), ("max_tokens", int), ("messages", list)):
            if not isinstance(body.get(name), kind):
                return _error(400, "invalid_request_error", f"{name}: Field required")
        return None

    async def _answer(self, request: web.Request, body: dict[str, Any], reply: Reply) -> web.StreamResponse:
        if reply.hang_before:
            await asyncio.Event().wait()
        if reply.status >= 400:
            return _error(reply.status, reply.error_type, reply.error_message, reply.headers)
        tools = bool(body.get("tools"))
        if not body.get("stream"):
            return web.Response(body=reply.body or (TOOLS_MESSAGE if tools else MESSAGE), headers=reply.headers,
                                content_type="application/json")
        response = web.StreamResponse(headers=reply.headers)
        response.content_type = "text/event-stream"
        await response.prepare(request)
        events = reply.events if reply.events is not None else TOOLS_STREAM if tools else STREAM
        for i, event in enumerate(events):
            if reply.hang_after == i:
                await asyncio.Event().wait()
            if reply.reset_after == i:
                request.transport.abort()
                return response
            if reply.stop_after == i:
                break
            if reply.gate_after == i:
                await self.gate.wait()
            if reply.delay and i:
                await asyncio.sleep(reply.delay)
            await response.write(event)
            self.event_sent.set()
        await response.write_eof()
        return response


def _error(status: int, etype: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=error_body(etype, message), headers=headers,
                        content_type="application/json")
