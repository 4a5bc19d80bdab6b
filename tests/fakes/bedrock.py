"""A fake Bedrock runtime: Converse, ConverseStream (real binary event-stream frames) and InvokeModel.

Every request must carry a valid SigV4 signature for the fake's credentials (recomputed from the path and
headers exactly as received, so a URL that changes between signing and sending is caught) or the fake's
Bedrock API key. Steered by the model id in the path:

- ``...tools...``        replay the tool-use recordings
- ``fail-<status>``      answer that status with Bedrock's error body and ``x-amzn-ErrorType``
                         (400 Validation, 401 UnrecognizedClient (sent as 403, as AWS does), 403 AccessDenied,
                         429 Throttling with ``Retry-After: 7``, 500 InternalServer, 503 ServiceUnavailable)
- ``stream-exception-<type>``  stream the first frames, then an exception frame of that type
- ``first-exception-<type>``   an exception frame of that type before any event
- ``bad-crc``            stream with the third frame's message CRC corrupted
- ``truncated``          stream two frames and half of the third, then close
- ``no-metadata``        stream everything but the final metadata event
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from bifrost_proxy.providers.bedrock import sigv4
from bifrost_proxy.providers.bedrock.eventstream import encode_message

RECORDINGS = Path(__file__).parent / "recordings"
AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/bedrock/"
                  r"aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})$")
AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
REQUIRED_SIGNED = {"host", "x-amz-date", "x-amz-content-sha256"}
ERRORS = {
    400: (400, "ValidationException", "Malformed input request: #: extraneous key [bogus] is not permitted"),
    401: (403, "UnrecognizedClientException", "The security token included in the request is invalid."),
    403: (403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
    429: (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    500: (500, "InternalServerException", "The server encountered an internal error."),
    503: (503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
}


def load_recording(name: str) -> Any:
    return orjson.loads((RECORDINGS / name).read_bytes())


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    """One ConverseStream event as AWS frames it (header order as observed on the wire)."""
    return encode_message({":event-type": event_type, ":content-type": "application/json",
                           ":message-type": "event"}, orjson.dumps(payload))


def exception_frame(exception_type: str, message: str) -> bytes:
    return encode_message({":exception-type": exception_type, ":content-type": "application/json",
                           ":message-type": "exception"}, orjson.dumps({"message": message}))


def encode_events(events: list[dict[str, Any]]) -> bytes:
    """A recording (``[{"event": type, "payload": {...}}]``) as the binary stream ConverseStream sends."""
    return b"".join(event_frame(e["event"], e["payload"]) for e in events)


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps({"message": message}), content_type="application/json",
                        headers={"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                                 "x-amzn-RequestId": "fake-error-request", **(headers or {})})


@dataclass
class FakeBedrock:
    """The fake's state: its credentials, and every request it accepted (path, headers, JSON body)."""

    access_key: str = "AKIDFAKEBEDROCK"
    secret_key: str = "fake/secret+key"
    session_token: str | None = None
    api_key: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/model/{model}/converse", self.converse)
        app.router.add_post("/model/{model}/converse-stream", self.converse_stream)
        app.router.add_post("/model/{model}/invoke", self.invoke)
        return app

    def check_auth(self, request: web.Request, body: bytes) -> str | None:
        """Why the request's credentials are refused, or None when they are good."""
        auth = request.headers.get("Authorization", "")
        if self.api_key is not None and auth == f"Bearer {self.api_key}":
            return None
        match = AUTH.match(auth)
        if not match:
            return "the Authorization header is not a SigV4 header for service bedrock"
        stamp = request.headers.get("X-Amz-Date", "")
        signed = match["signed"].split(";")
        if not AMZ_DATE.match(stamp) or stamp[:8] != match["date"]:
            return "X-Amz-Date is missing or disagrees with the credential scope"
        if not REQUIRED_SIGNED <= set(signed) or signed != sorted(signed):
            return f"SignedHeaders must be sorted and include {sorted(REQUIRED_SIGNED)}"
        if request.headers.get("X-Amz-Content-Sha256") != hashlib.sha256(body).hexdigest():
            return "X-Amz-Content-Sha256 is not the SHA-256 of the body"
        if match["key"] != self.access_key:
            return "unknown access key"
        if self.session_token is not None and (request.headers.get("X-Amz-Security-Token") != self.session_token
                                               or "x-amz-security-token" not in signed):
            return "the session token is missing, wrong or unsigned"
        path, _, query = request.raw_path.partition("?")
        creq, _ = sigv4.canonical_request(request.method, path, query,
                                          {name: request.headers.get(name, "") for name in signed},
                                          request.headers["X-Amz-Content-Sha256"])
        if sigv4.signature(self.secret_key, stamp, match["region"], "bedrock", creq) != match["sig"]:
            return "The request signature we calculated does not match the signature you provided."
        return None

    async def _accept(self, request: web.Request) -> tuple[str, Any] | web.Response:
        body = await request.read()
        problem = self.check_auth(request, body)
        if problem is not None:
            self.rejected.append(problem)
            return error_response(403, "InvalidSignatureException", problem)
        model = request.match_info["model"]
        self.requests.append({"path": request.raw_path, "model": model, "headers": dict(request.headers),
                              "body": orjson.loads(body)})
        failing = re.search(r"fail-(\d{3})", model)
        if failing and int(failing[1]) in ERRORS:
            status, kind, message = ERRORS[int(failing[1])]
            extra = {"Retry-After": "7"} if status == 429 else None
            return error_response(status, kind, message, extra)
        return model, orjson.loads(body)

    async def converse(self, request: web.Request) -> web.StreamResponse:
        accepted = await self._accept(request)
        if isinstance(accepted, web.Response):
            return accepted
        model, _ = accepted
        name = "bedrock_converse_tools.json" if "tools" in model else "bedrock_converse.json"
        return web.Response(body=(RECORDINGS / name).read_bytes(), content_type="application/json",
                            headers={"x-amzn-RequestId": "6b1c0f3e-fake-4d8a-9e2b-converse"})

    async def converse_stream(self, request: web.Request) -> web.StreamResponse:
        accepted = await self._accept(request)
        if isinstance(accepted, web.Response):
            return accepted
        model, _ = accepted
        events = load_recording("bedrock_converse_stream_tools.json" if "tools" in model
                                else "bedrock_converse_stream.json")
        frames = [event_frame(e["event"], e["payload"]) for e in events]
        tail = b""
        if "no-metadata" in model:
            frames = frames[:-1]
        elif "stream-exception-" in model or "first-exception-" in model:
            kind = model.split("-exception-", 1)[1].split(":")[0]
            keep = frames[:3] if "stream-exception-" in model else []
            frames = keep + [exception_frame(kind, f"the fake raised {kind}")]
        elif "bad-crc" in model:
            frames[2] = frames[2][:-1] + bytes([frames[2][-1] ^ 0xFF])
        elif "truncated" in model:
            frames, tail = frames[:2], frames[2][: len(frames[2]) // 2]
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream",
                                               "x-amzn-RequestId": "6b1c0f3e-fake-4d8a-9e2b-stream"})
        await response.prepare(request)
        for frame in frames:
            # two writes per frame, so the gateway's reads end mid-frame as they do on a real network
            await response.write(frame[:7])
            await response.write(frame[7:])
        if tail:
            await response.write(tail)
            return response  # handler returns: aiohttp ends the chunked body with the frame cut
        await response.write_eof()
        return response

    async def invoke(self, request: web.Request) -> web.StreamResponse:
        accepted = await self._accept(request)
        if isinstance(accepted, web.Response):
            return accepted
        model, body = accepted
        if "titan-embed" in model:
            if set(body) - {"inputText", "dimensions", "normalize"} or not isinstance(body.get("inputText"), str):
                return error_response(400, "ValidationException", "Malformed input request for Titan")
            return web.Response(body=(RECORDINGS / "bedrock_titan_embed.json").read_bytes(),
                                content_type="application/json",
                                headers={"X-Amzn-Bedrock-Input-Token-Count": "5"})
        if "cohere.embed" in model:
            texts = body.get("texts")
            if not isinstance(texts, list) or body.get("input_type") is None:
                return error_response(400, "ValidationException", "Malformed input request for Cohere")
            recorded = load_recording("bedrock_cohere_embed.json")
            recorded["embeddings"] = (recorded["embeddings"] * len(texts))[: len(texts)]
            recorded["texts"] = texts
            return web.Response(body=orjson.dumps(recorded), content_type="application/json",
                                headers={"X-Amzn-Bedrock-Input-Token-Count": str(2 * len(texts))})
        return error_response(400, "ValidationException", "The provided model doesn't support this operation.")
