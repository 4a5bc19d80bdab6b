"""A fake OpenAI-compatible upstream: real wire format, steered per model, counting every call.

Tests queue ``Reply``s for a model; each call takes the next one (the last one repeats). A reply can
stream recorded events with a delay, wait on a gate before an event (to prove relay ordering), hang,
reset the connection, send garbage, or answer an error status with OpenAI's error body.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.recording import recording, sse_events

STREAM = sse_events(recording("openai_chat_stream.sse"))
TOOLS_STREAM = sse_events(recording("openai_chat_tools_stream.sse"))
COMPLETION = recording("openai_chat_completion.json")
USAGE_EVENTS = [e for e in STREAM if b'"choices":[]' in e and b'"usage"' in e]
STREAM_WITHOUT_USAGE = [e for e in STREAM if e not in USAGE_EVENTS]


@dataclass
class Reply:
    status: int = 200
    body: bytes | None = None  # non-stream answer (default: the recorded completion)
    events: list[bytes] | None = None  # stream events (default: the recorded stream)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # between events
    hang_before: bool = False  # accept the request, never answer
    hang_after: int | None = None  # send this many events, then stall forever
    reset_after: int | None = None  # send this many events, then cut the connection
    garbage_after: int | None = None  # send this many events, then a non-JSON event
    gate_after: int | None = None  # send this many events, then wait for FakeOpenAI.gate
    error_message: str = "fake upstream error"
    error_type: str = "server_error"


@dataclass
class SeenCall:
    path: str
    headers: dict[str, str]
    body: Any
    key: str | None


class FakeOpenAI:
    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.calls: list[SeenCall] = []
        self.gate = asyncio.Event()
        self.event_sent = asyncio.Event()  # set after every event written; tests clear it
        self.client_gone = asyncio.Event()
        self.in_flight = 0
        self.models = ["gpt-4o-mini", "gpt-4o"]
        self.app = web.Application()
        for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
            self.app.router.add_post(path, self.handle)
        self.app.router.add_post("/openai/v1/chat/completions", self.handle)
        self.app.router.add_post("/openai/deployments/{deployment}/chat/completions", self.handle)
        self.app.router.add_get("/v1/models", self.list_models)

    def queue(self, model: str, *replies: Reply) -> None:
        self.replies.setdefault(model, []).extend(replies)

    def calls_for(self, model: str) -> list[SeenCall]:
        return [c for c in self.calls if isinstance(c.body, dict) and c.body.get("model") == model]

    def _next(self, model: str) -> Reply:
        queued = self.replies.get(model)
        if not queued:
            return Reply()
        return queued.pop(0) if len(queued) > 1 else queued[0]

    async def list_models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw
        auth = request.headers.get("Authorization") or request.headers.get("api-key")
        key = auth.removeprefix("Bearer ") if auth else None
        self.calls.append(SeenCall(request.path, dict(request.headers), body, key))
        model = body.get("model", "") if isinstance(body, dict) else ""
        reply = self._next(model)
        self.in_flight += 1
        try:
            return await self._answer(request, body, reply)
        except (asyncio.CancelledError, ConnectionResetError):
            self.client_gone.set()
            raise
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request, body: Any, reply: Reply) -> web.StreamResponse:
        if reply.hang_before:
            await asyncio.Event().wait()
        if reply.status >= 400:
            error = {"error": {"message": reply.error_message, "type": reply.error_type, "param": None,
                               "code": None}}
            return web.Response(status=reply.status, body=orjson.dumps(error), headers=reply.headers,
                                content_type="application/json")
        if request.path.endswith("/embeddings"):
            return web.json_response({"object": "list", "model": body["model"], "data": [
                {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "usage": {"prompt_tokens": 2, "total_tokens": 2}})
        if not (isinstance(body, dict) and body.get("stream")):
            return web.Response(body=reply.body or COMPLETION, headers=reply.headers,
                                content_type="application/json")
        response = web.StreamResponse(headers=reply.headers)
        response.content_type = "text/event-stream"
        await response.prepare(request)
        events = reply.events if reply.events is not None else STREAM
        if not (body.get("stream_options") or {}).get("include_usage"):
            events = [e for e in events if e not in USAGE_EVENTS]  # as OpenAI: usage only when asked
        for i, event in enumerate(events):
            if reply.hang_after == i:
                await asyncio.Event().wait()
            if reply.reset_after == i:
                request.transport.abort()
                return response
            if reply.garbage_after == i:
                await response.write(b"data: {this is not json\n\n")
                await asyncio.Event().wait()
            if reply.gate_after == i:
                await self.gate.wait()
            if reply.delay and i:
                await asyncio.sleep(reply.delay)
            await response.write(event)
            self.event_sent.set()
        await response.write_eof()
        return response
