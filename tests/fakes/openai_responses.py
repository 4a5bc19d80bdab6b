"""A fake OpenAI that also serves the Responses API (``POST /v1/responses``, Azure's two paths too).

It is ``FakeOpenAI`` (chat completions and all) plus ``/responses``: the recordings of OpenAI's Responses
docs (tests/fakes/recordings/openai_response*.{json,sse}) answered as they are, streamed event by event
when the body says ``stream: true`` (the function-call stream when it offers tools). Replies are queued per
model with ``FakeOpenAI``'s ``Reply``: an error status with OpenAI's error body, hang, reset or garbage
after N events, a gate, a delay. Every call is in ``calls`` with its path (and query), headers, body and key.
"""
from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.openai import FakeOpenAI, Reply, SeenCall
from tests.fakes.recording import recording, sse_events

RESPONSE = recording("openai_response.json")
TEXT_EVENTS = sse_events(recording("openai_responses_text.sse"))
TOOLS_EVENTS = sse_events(recording("openai_responses_tools.sse"))
RESPONSES_PATHS = ("/v1/responses", "/openai/v1/responses", "/openai/responses")


class FakeOpenAIResponses(FakeOpenAI):
    def __init__(self) -> None:
        super().__init__()
        for path in RESPONSES_PATHS:
            self.app.router.add_post(path, self.responses)

    def responses_calls(self) -> list[SeenCall]:
        return [c for c in self.calls if c.path.partition("?")[0] in RESPONSES_PATHS]

    async def responses(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        auth = request.headers.get("Authorization") or request.headers.get("api-key")
        key = auth.removeprefix("Bearer ") if auth else None
        self.calls.append(SeenCall(request.path_qs, dict(request.headers), body, key))
        reply = self._next(str(body.get("model", "")))
        try:
            return await self._answer_responses(request, body, reply)
        except (asyncio.CancelledError, ConnectionResetError):
            self.client_gone.set()
            raise

    async def _answer_responses(self, request: web.Request, body: dict[str, Any], reply: Reply) -> web.StreamResponse:
        if reply.hang_before:
            await asyncio.Event().wait()
        if reply.status >= 400:
            error = {"error": {"message": reply.error_message, "type": reply.error_type, "param": None,
                               "code": None}}
            return web.Response(status=reply.status, body=orjson.dumps(error), headers=reply.headers,
                                content_type="application/json")
        if not body.get("stream"):
            return web.Response(body=reply.body or RESPONSE, headers=reply.headers, content_type="application/json")
        response = web.StreamResponse(headers=reply.headers)
        response.content_type = "text/event-stream"
        await response.prepare(request)
        events = reply.events if reply.events is not None else TOOLS_EVENTS if body.get("tools") else TEXT_EVENTS
        for i, event in enumerate(events):
            if reply.hang_after == i:
                await asyncio.Event().wait()
            if reply.reset_after == i:
                request.transport.abort()
                return response
            if reply.garbage_after == i:
                await response.write(b"event: response.output_text.delta\ndata: {not json\n\n")
                await asyncio.Event().wait()
            if reply.gate_after == i:
                await self.gate.wait()
            if reply.delay and i:
                await asyncio.sleep(reply.delay)
            await response.write(event)
            self.event_sent.set()
        await response.write_eof()
        return response
