"""A fake Cohere v2 upstream (``/v2/chat``, ``/v2/embed``): real wire format, steered per model.

Tests queue ``Reply``s for a model; each call takes the next one (the last one repeats). Without a queued
reply, a chat call answers the recorded text answer (or the recorded tool-call answer when the request
offers tools), streamed when the request says ``stream: true``; an embed call answers one recorded
vector per text. A reply can instead answer an error status with Cohere's error body, stream other
events, wait on a gate mid-stream (so a test knows the client has the first events), hang, reset
the connection, end early, or send garbage.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.recording import recording, sse_events

STREAM = sse_events(recording("cohere_chat_stream.sse"))
TOOLS_STREAM = sse_events(recording("cohere_chat_tools_stream.sse"))
ANSWER = recording("cohere_chat_response.json")
TOOLS_ANSWER = recording("cohere_chat_tools_response.json")
EMBED_ANSWER = orjson.loads(recording("cohere_embed_response.json"))


@dataclass
class Reply:
    status: int = 200
    body: bytes | None = None  # non-stream answer (default: a recording, see the module docstring)
    events: list[bytes] | None = None  # stream events (default: a recording)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # between events
    hang_before: bool = False  # accept the request, never answer
    reset_after: int | None = None  # send this many events, then cut the connection
    garbage_after: int | None = None  # send this many events, then a non-JSON event
    stop_after: int | None = None  # send this many events, then end the body cleanly (truncated stream)
    gate_after: int | None = None  # send this many events, then wait for FakeCohere.gate
    error_message: str = "fake upstream error"


@dataclass
class SeenCall:
    path: str
    headers: dict[str, str]
    body: Any
    key: str | None


class FakeCohere:
    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.calls: list[SeenCall] = []
        self.event_sent = asyncio.Event()
        self.gate = asyncio.Event()
        self.base_url = ""
        self.app = web.Application()
        self.app.router.add_post("/v2/chat", self.handle)
        self.app.router.add_post("/v2/embed", self.handle)

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
            body = raw
        auth = request.headers.get("Authorization")
        self.calls.append(SeenCall(request.path, dict(request.headers), body,
                                   auth.removeprefix("Bearer ") if auth else None))
        body = body if isinstance(body, dict) else {}
        reply = self._next(str(body.get("model", "")))
        if reply.hang_before:
            await asyncio.Event().wait()
        if reply.status >= 400:
            error = {"id": "5b8a5f6e-0000-4000-8000-000000000000", "message": reply.error_message}
            return web.Response(status=reply.status, body=orjson.dumps(error), headers=reply.headers,
                                content_type="application/json")
        if request.path == "/v2/embed":
            return web.Response(body=reply.body or _embed_answer(body), headers=reply.headers,
                                content_type="application/json")
        tools = bool(body.get("tools"))
        if not body.get("stream"):
            return web.Response(body=reply.body or (TOOLS_ANSWER if tools else ANSWER), headers=reply.headers,
                                content_type="application/json")
        events = reply.events if reply.events is not None else (TOOLS_STREAM if tools else STREAM)
        return await self._stream(request, reply, events)

    async def _stream(self, request: web.Request, reply: Reply, events: list[bytes]) -> web.StreamResponse:
        response = web.StreamResponse(headers=reply.headers)
        response.content_type = "text/event-stream"
        await response.prepare(request)
        for i, event in enumerate(events):
            if reply.reset_after == i:
                request.transport.abort()
                return response
            if reply.garbage_after == i:
                await response.write(b"event: content-delta\ndata: {this is not json\n\n")
                await asyncio.Event().wait()
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


def _embed_answer(body: dict[str, Any]) -> bytes:
    texts = body.get("texts") or []
    recorded = EMBED_ANSWER["embeddings"]["float"]
    answer = dict(EMBED_ANSWER, texts=texts,
                  embeddings={"float": [recorded[i % len(recorded)] for i in range(len(texts))]})
    return orjson.dumps(answer)
