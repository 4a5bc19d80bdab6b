"""A fake Google upstream: the Gemini API, Vertex AI (Gemini and Claude models) and an OAuth token endpoint.

It speaks the real wire formats and replays the recordings: ``streamGenerateContent?alt=sse`` streams a
recorded SSE stream event by event, ``generateContent`` answers the same events merged into one response
(so both paths tell the same story), embeddings are derived from the input text. Requests with ``tools``
get the function-call recording. Tests queue ``Reply``s per model to make a call fail: a Google error
status, hang, reset mid-stream, cut before the finishReason, or garbage.

Auth is checked as Google does: the Gemini API wants a known ``x-goog-api-key`` (else 400
INVALID_ARGUMENT, reason API_KEY_INVALID); Vertex wants ``Authorization: Bearer`` with a token this fake
issued. The token endpoint verifies the service-account JWT with ``public_key`` when one is set.
"""
from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import web

from tests.fakes.recording import recording

CRLF_EVENT = b"\r\n\r\n"


def gemini_events(name: str) -> list[bytes]:
    """A recorded Gemini stream split into its events, each with its ``\\r\\n\\r\\n``."""
    return [e + CRLF_EVENT for e in recording(name).split(CRLF_EVENT) if e.strip()]


TEXT_STREAM = gemini_events("gemini_stream_text.sse")
TOOLS_STREAM = gemini_events("gemini_stream_tools.sse")
CUT_STREAM = TEXT_STREAM[:2]  # no finishReason yet
CLAUDE_STREAM = recording("anthropic_text.sse")
CLAUDE_MESSAGE = recording("anthropic_message.json")


def merged(events: list[bytes]) -> dict[str, Any]:
    """What ``generateContent`` answers for the same generation: the stream's events as one response."""
    parts: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for event in events:
        obj = orjson.loads(event[len(b"data: "):])
        cand = obj["candidates"][0]
        for part in cand.get("content", {}).get("parts", []):
            if parts and "text" in part and "text" in parts[-1] and part.get("thought") == parts[-1].get("thought"):
                parts[-1] = {**parts[-1], "text": parts[-1]["text"] + part["text"]}
            elif part.get("text") != "":
                parts.append(part)
        last = {**last, **obj, "candidates": [{**cand, "content": {"role": "model", "parts": parts}}]}
    return last


@dataclass
class Reply:
    status: int = 200
    error_status: str = "INTERNAL"  # the google.rpc status name of an error answer
    error_message: str = "fake upstream error"
    retry_delay: str | None = None  # adds a RetryInfo detail ("37s")
    error_body: bytes | None = None  # an error answer's exact body (e.g. Anthropic-shaped)
    body: dict[str, Any] | None = None  # non-stream answer (default: the recording, merged)
    events: list[bytes] | None = None  # stream events (default: the text or tools recording)
    delay: float = 0.0  # between events
    hang_before: bool = False
    hang_after: int | None = None  # send this many events, then stall
    reset_after: int | None = None  # send this many events, then cut the connection
    garbage_after: int | None = None  # send this many events, then a non-JSON event and stall


@dataclass
class SeenCall:
    path: str
    method: str  # generateContent, streamGenerateContent, batchEmbedContents, predict, rawPredict ...
    model: str
    headers: dict[str, str]
    body: Any
    query: dict[str, str] = field(default_factory=dict)


class FakeGoogle:
    def __init__(self, api_keys: tuple[str, ...] = (), public_key: Any = None, expires_in: int = 3599) -> None:
        self.api_keys = set(api_keys)
        self.public_key = public_key  # an RSA public key: JWT assertions must verify with it
        self.expires_in = expires_in
        self.replies: dict[str, list[Reply]] = {}
        self.calls: list[SeenCall] = []
        self.token_calls: list[dict[str, str]] = []  # the form of each token request
        self.token_reply: tuple[int, dict[str, Any]] | None = None  # steer the token endpoint to fail
        self.issued: set[str] = set()
        self.event_sent = asyncio.Event()
        self.base_url = ""
        self.app = web.Application()
        self.app.router.add_post("/v1beta/models/{target}", self.gemini)
        self.app.router.add_post("/v1/projects/{project}/locations/{region}/publishers/{publisher}/models/{target}",
                                 self.vertex)
        self.app.router.add_post("/v1/publishers/{publisher}/models/{target}", self.vertex)
        self.app.router.add_post("/token", self.token)

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def queue(self, model: str, *replies: Reply) -> None:
        self.replies.setdefault(model, []).extend(replies)

    def _next(self, model: str) -> Reply:
        queued = self.replies.get(model)
        if not queued:
            return Reply()
        return queued.pop(0) if len(queued) > 1 else queued[0]

    async def _seen(self, request: web.Request) -> SeenCall:
        model, _, method = request.match_info["target"].partition(":")
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw
        seen = SeenCall(request.path, method, model, dict(request.headers), body, dict(request.query))
        self.calls.append(seen)
        return seen

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        seen = await self._seen(request)
        if request.headers.get("x-goog-api-key") not in self.api_keys:
            return google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                                [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                                  "domain": "googleapis.com"}])
        return await self._answer(request, seen)

    async def vertex(self, request: web.Request) -> web.StreamResponse:
        seen = await self._seen(request)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.issued and request.headers.get("x-goog-api-key") not in self.api_keys:
            return google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        return await self._answer(request, seen)

    async def _answer(self, request: web.Request, seen: SeenCall) -> web.StreamResponse:
        reply = self._next(seen.model)
        if reply.hang_before:
            await asyncio.Event().wait()
        if reply.status >= 400:
            if reply.error_body is not None:
                return web.Response(status=reply.status, body=reply.error_body, content_type="application/json")
            details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": reply.retry_delay}] \
                if reply.retry_delay else []
            return google_error(reply.status, reply.error_status, reply.error_message, details)
        body = seen.body if isinstance(seen.body, dict) else {}
        if seen.method == "batchEmbedContents":
            texts = [r["content"]["parts"][0]["text"] for r in body["requests"]]
            return web.json_response({"embeddings": [{"values": vector(t)} for t in texts]})
        if seen.method == "predict":
            return web.json_response({"predictions": [
                {"embeddings": {"values": vector(i["content"]), "statistics": {"token_count": len(i["content"].split()),
                                                                               "truncated": False}}}
                for i in body["instances"]]})
        if seen.method == "rawPredict":
            return web.Response(body=CLAUDE_MESSAGE, content_type="application/json")
        if seen.method == "streamRawPredict":
            return await self._stream(request, reply, reply.events or [
                e + b"\n\n" for e in CLAUDE_STREAM.split(b"\n\n") if e.strip()])
        events = reply.events if reply.events is not None else (TOOLS_STREAM if body.get("tools") else TEXT_STREAM)
        if seen.method == "generateContent":
            return web.json_response(reply.body or merged(events))
        if seen.method == "streamGenerateContent" and request.query.get("alt") == "sse":
            return await self._stream(request, reply, events)
        return google_error(404, "NOT_FOUND", f"method {seen.method!r} not found")

    async def _stream(self, request: web.Request, reply: Reply, events: list[bytes]) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "text/event-stream"
        await response.prepare(request)
        for i, event in enumerate(events):
            if reply.hang_after == i:
                await asyncio.Event().wait()
            if reply.reset_after == i:
                request.transport.abort()
                return response
            if reply.garbage_after == i:
                await response.write(b"data: {this is not json" + CRLF_EVENT)
                await asyncio.Event().wait()
            if reply.delay and i:
                await asyncio.sleep(reply.delay)
            await response.write(event)
            self.event_sent.set()
        await response.write_eof()
        return response

    async def token(self, request: web.Request) -> web.Response:
        form = {k: v[0] for k, v in parse_qs((await request.read()).decode()).items()}
        self.token_calls.append(form)
        if self.token_reply is not None:
            return web.json_response(self.token_reply[1], status=self.token_reply[0])
        if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            claims = verify_jwt(form.get("assertion", ""), self.public_key)
            if claims is None or claims.get("aud") != self.token_uri or claims["exp"] - claims["iat"] != 3600:
                return web.json_response({"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                                         status=400)
        elif form.get("grant_type") != "refresh_token":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = f"ya29.fake-access-token-{len(self.token_calls)}"
        self.issued.add(token)
        return web.json_response({"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})


def vector(text: str) -> list[float]:
    """A deterministic small embedding, exact in float32, so base64 answers can be checked exactly."""
    return [float(len(text)), 0.5, -1.25]


def google_error(status: int, name: str, message: str, details: list[Any] | None = None) -> web.Response:
    return web.json_response({"error": {"code": status, "message": message, "status": name,
                                        **({"details": details} if details else {})}}, status=status)


def verify_jwt(assertion: str, public_key: Any) -> dict[str, Any] | None:
    """The claims of an RS256 JWT whose signature verifies with ``public_key`` (any, when None); else None."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        head, payload, signature = assertion.split(".")
        header = orjson.loads(b64url_decode(head))
        if header.get("alg") != "RS256":
            return None
        if public_key is not None:
            public_key.verify(b64url_decode(signature), f"{head}.{payload}".encode(), padding.PKCS1v15(),
                              hashes.SHA256())
        return orjson.loads(b64url_decode(payload))
    except (ValueError, InvalidSignature, orjson.JSONDecodeError):
        return None


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class FakeTokenSession:
    """Stands in for ``aiohttp.ClientSession`` in unit tests of the token exchange (no sockets).

    ``post`` records ``(url, form, headers)`` and answers ``tok-N``; set ``release`` to an ``asyncio.Event``
    to hold answers until it is set (``started`` is set when the first answer is being read).
    """

    def __init__(self, expires_in: int = 3600) -> None:
        self.posts: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.expires_in = expires_in
        self.started = asyncio.Event()
        self.release: asyncio.Event | None = None

    def post(self, url: str, data: bytes, headers: dict[str, str], allow_redirects: bool) -> "_TokenAnswer":
        self.posts.append((url, parse_qs(data.decode()), headers))
        return _TokenAnswer(self, len(self.posts))


class _TokenAnswer:
    status = 200

    def __init__(self, session: FakeTokenSession, n: int) -> None:
        self.session, self.n = session, n

    async def read(self) -> bytes:
        self.session.started.set()
        if self.session.release is not None:
            await self.session.release.wait()
        return orjson.dumps({"access_token": f"tok-{self.n}", "expires_in": self.session.expires_in})

    async def __aenter__(self) -> "_TokenAnswer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None
