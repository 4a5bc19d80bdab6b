"""A fault-injecting OpenAI-compatible upstream, steered per key and per request.

Each call takes the standing fault of its key for its model (``always_for_model``), else the next ``Fault``
scripted for its request tag (the body's ``user`` field, so concurrent requests of a soak run steer
themselves), else for its key (from ``Authorization: Bearer <value>``), else the key's standing fault
(``always``), else ``OK``. A spent script falls back to the next source, so
``fake.script(key, Fault(500), Fault(500))`` means "two 500s, then answers". Every call is recorded with
its key, so tests assert exact upstream call counts; events let tests wait without sleeping.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.openai import COMPLETION, STREAM, USAGE_EVENTS


@dataclass(frozen=True, slots=True)
class Fault:
    """One upstream answer. The default is a normal answer (the recorded completion or stream)."""

    status: int = 200
    retry_after: str | None = None  # Retry-After header of an error answer
    retry_after_ms: str | None = None  # retry-after-ms header of an error answer (OpenAI's, Azure's)
    error_type: str = "server_error"
    error_message: str = "injected fault"
    error_code: str | None = None  # the error body's "code" (model_not_found, invalid_api_key ...)
    hang: bool = False  # accept the request and never answer
    reset: bool = False  # cut the connection without answering
    hold: bool = False  # wait for ``FaultyOpenAI.gate`` before answering normally
    first_byte_delay: float = 0.0  # wait this long before the status line
    error_event: str = ""  # stream: a 200 whose first event is an error event of this type (rate_limit_error ...)
    # stream: cut the connection after this many events (0: after the 200 and half of the first event)
    reset_after: int | None = None
    hang_after: int | None = None  # stream: stall forever after this many events
    gate_after: int | None = None  # stream: wait for ``FaultyOpenAI.gate`` after this many events
    events: int | None = None  # stream: this many synthetic content events instead of the recording
    event_size: int = 16  # bytes of content in each synthetic event


OK = Fault()


@dataclass(slots=True)
class FaultCall:
    key: str | None
    tag: str | None
    model: str
    stream: bool
    fault: Fault
    at: float = 0.0  # loop time when the call arrived
    events_sent: int = 0
    finished: bool = False  # the answer was written to the end
    gone: bool = False  # the gateway closed the connection before the answer was complete


def content_event(index: int, size: int) -> bytes:
    chunk = {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": {"content": chr(97 + index % 26) * size}, "finish_reason": None}]}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"




def error_event(error_type: str) -> bytes:
    error = {"error": {"message": f"injected {error_type}", "type": error_type, "code": None}}
    return b"data: " + orjson.dumps(error) + b"\n\n"

DONE = b"data: [DONE]\n\n"
EMBEDDING = orjson.dumps({"object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2,
                         "total_tokens": 2}, "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]})


class FaultyOpenAI:
    def __init__(self) -> None:
        self.app = web.Application()
        for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
            self.app.router.add_post(path, self.handle)
        self.base_url = ""
        self.calls: list[FaultCall] = []
        self.by_tag: dict[str, list[Fault]] = {}
        self.by_key: dict[str, list[Fault]] = {}
        self.standing: dict[str, Fault] = {}
        self.standing_for_model: dict[tuple[str, str], Fault] = {}
        self.gate = asyncio.Event()  # opens every ``hold`` fault
        self.in_flight = 0
        self.peak_in_flight = 0
        self._arrived = asyncio.Event()
        self._gone = asyncio.Event()

    # steering
    def script(self, key: str, *faults: Fault) -> None:
        """The next calls made with ``key`` (its value) answer these faults, in order."""
        self.by_key.setdefault(key, []).extend(faults)

    def always(self, key: str, fault: Fault) -> None:
        """Every call made with ``key`` answers ``fault`` once its script is spent."""
        self.standing[key] = fault

    def always_for_model(self, key: str, model: str, fault: Fault) -> None:
        """Every call made with ``key`` for ``model`` answers ``fault`` (before the key's other steering)."""
        self.standing_for_model[(key, model)] = fault

    def script_tag(self, tag: str, *faults: Fault) -> None:
        """The next calls whose body has ``"user": tag`` answer these faults, in order."""
        self.by_tag.setdefault(tag, []).extend(faults)

    # observation
    def count(self, key: str | None = None) -> int:
        return len(self.calls) if key is None else sum(1 for c in self.calls if c.key == key)

    def counts(self) -> Counter[str | None]:
        return Counter(c.key for c in self.calls)

    def for_tag(self, tag: str) -> list[FaultCall]:
        return [c for c in self.calls if c.tag == tag]

    async def wait_calls(self, n: int) -> None:
        """Until at least ``n`` calls arrived (bound it with ``asyncio.wait_for``)."""
        while len(self.calls) < n:
            self._arrived.clear()
            await self._arrived.wait()

    async def wait_gone(self, n: int = 1) -> None:
        """Until at least ``n`` calls were abandoned by the gateway before their answer was complete."""
        while sum(c.gone for c in self.calls) < n:
            self._gone.clear()
            await self._gone.wait()

    def _next(self, key: str | None, tag: str | None, model: str) -> Fault:
        for_model = self.standing_for_model.get((key or "", model))
        if for_model is not None:
            return for_model
        for queue in (self.by_tag.get(tag or ""), self.by_key.get(key or "")):
            if queue:
                return queue.pop(0)
        return self.standing.get(key or "", OK)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ") or None
        tag = body.get("user") if isinstance(body.get("user"), str) else None
        model = str(body.get("model", ""))
        fault = self._next(key, tag, model)
        call = FaultCall(key, tag, model, body.get("stream") is True, fault, asyncio.get_running_loop().time())
        self.calls.append(call)
        self._arrived.set()
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            response = await self._answer(request, body, fault, call)
            call.finished = True
            return response
        except (asyncio.CancelledError, ConnectionResetError):
            call.gone = True
            self._gone.set()
            raise
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request, body: dict[str, Any], fault: Fault,
                      call: FaultCall) -> web.StreamResponse:
        if fault.hang:
            await asyncio.Event().wait()
        if fault.reset:
            request.transport.abort()
            await asyncio.Event().wait()  # the server cancels us as the connection goes
        if fault.hold:
            await self.gate.wait()
        if fault.first_byte_delay:
            await asyncio.sleep(fault.first_byte_delay)
        if fault.status >= 400:
            error = {"error": {"message": fault.error_message, "type": fault.error_type, "param": None,
                               "code": fault.error_code}}
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            if fault.retry_after_ms is not None:
                headers["retry-after-ms"] = fault.retry_after_ms
            return web.Response(status=fault.status, body=orjson.dumps(error), headers=headers,
                                content_type="application/json")
        if request.path.endswith("/embeddings"):
            return web.Response(body=EMBEDDING, content_type="application/json")
        if not call.stream:
            return web.Response(body=COMPLETION, content_type="application/json")
        response = web.StreamResponse()
        response.content_type = "text/event-stream"
        await response.prepare(request)
        for i, event in enumerate(self._events(body, fault)):
            if fault.reset_after == i:
                if i == 0:
                    await response.write(event[: len(event) // 2])  # the 200 went out, no whole event
                request.transport.abort()
                await asyncio.Event().wait()
            if fault.hang_after == i:
                await asyncio.Event().wait()
            if fault.gate_after == i:
                await self.gate.wait()
            await response.write(event)
            call.events_sent += 1
        await response.write_eof()
        return response

    @staticmethod
    def _events(body: dict[str, Any], fault: Fault) -> list[bytes]:
        if fault.error_event:
            return [error_event(fault.error_event)]
        if fault.events is not None:
            return [content_event(i, fault.event_size) for i in range(fault.events)] + [DONE]
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            return STREAM
        return [e for e in STREAM if e not in USAGE_EVENTS]

