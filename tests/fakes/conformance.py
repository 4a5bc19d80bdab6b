"""One table of per-provider setup for the conformance suite (tests/functional/test_conformance.py).

Each ``Wire`` says how to start that wire type's fake upstream, steered with the fake's own mechanism
(queued replies or model names), and the gateway config pointing at it. Every scenario then uses the same
model roles: ``ok`` (the recorded text answer), ``tools`` (the recorded tool-call answer), ``rate_limited``
(a 429), ``refused`` (the provider's way of refusing a key) and ``broken`` (a stream that starts, then
carries the provider's own mid-stream error). Fakes that expose a gate hold the broken stream after its
first event until ``release`` is called, so the test knows the 200 was committed before the error came.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import TEST_SECRETS
from tests.fakes import anthropic, cohere, gemini, openai
from tests.fakes.bedrock import FakeBedrock

try:  # the SDK's own HTTP library: httpx2 in newer openai releases, httpx before
    import httpx2 as httpx
except ImportError:  # pragma: no cover - depends on the installed openai release
    import httpx  # type: ignore[no-redef]

KEY_NAME = "conformance-key"
SECRET = TEST_SECRETS[0]
ServeApp = Callable[[web.Application], Awaitable[str]]


@dataclass(frozen=True)
class Models:
    ok: str
    tools: str
    rate_limited: str
    refused: str
    broken: str


@dataclass(frozen=True)
class Started:
    config: dict[str, Any]
    release: Callable[[], None]  # lets a gated broken stream go on (a no-op for fakes without a gate)


@dataclass(frozen=True)
class Wire:
    name: str  # the wire type, also the provider name and model prefix
    models: Models
    stream_model: str  # the model name the recorded stream's chunks must carry
    same_text: bool  # the fake's stream and non-stream answers come from one recording
    secrets: tuple[str, ...]  # values that must never reach a client
    start: Callable[[ServeApp], Awaitable[Started]]


def _provider(name: str, base_url: str, key: dict[str, Any]) -> dict[str, Any]:
    return {"providers": {name: {"keys": [{"name": KEY_NAME, **key}], "network_config": {"base_url": base_url}}}}


def openai_tool_completion(events: list[bytes]) -> bytes:
    """The recorded tool-call stream folded into one ``chat.completion`` (the fake has no such recording)."""
    chunks = [orjson.loads(e[len(b"data: "):]) for e in events if e.startswith(b"data: {")]
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for chunk in chunks:
        for choice in chunk["choices"]:
            for part in choice["delta"].get("tool_calls") or ():
                call = calls.setdefault(part["index"], {"id": None, "type": "function",
                                                        "function": {"name": "", "arguments": ""}})
                call["id"] = part.get("id") or call["id"]
                call["function"]["name"] += part.get("function", {}).get("name") or ""
                call["function"]["arguments"] += part.get("function", {}).get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    head = chunks[0]
    return orjson.dumps({"id": head["id"], "object": "chat.completion", "created": head["created"],
                         "model": head["model"], "choices": [{
                             "index": 0, "logprobs": None, "finish_reason": finish,
                             "message": {"role": "assistant", "content": None,
                                         "tool_calls": [calls[i] for i in sorted(calls)]}}]})


OPENAI = Models("gpt-4o-mini", "gpt-4o-mini-tools", "gpt-4o-mini-429", "gpt-4o-mini-401", "gpt-4o-mini-broken")
OPENAI_ERROR_EVENT = (b'data: {"error":{"message":"The server had an error while processing your request.",'
                      b'"type":"server_error","param":null,"code":null}}\n\n')


async def start_openai(serve: ServeApp) -> Started:
    fake = openai.FakeOpenAI()
    fake.queue(OPENAI.tools, openai.Reply(body=openai_tool_completion(openai.TOOLS_STREAM),
                                          events=openai.TOOLS_STREAM))
    fake.queue(OPENAI.rate_limited, openai.Reply(status=429, error_type="requests",
                                                 error_message="Rate limit reached for gpt-4o-mini"))
    fake.queue(OPENAI.refused, openai.Reply(status=401, error_type="invalid_request_error",
                                            error_message="Incorrect API key provided."))
    fake.queue(OPENAI.broken, openai.Reply(events=[*openai.STREAM_WITHOUT_USAGE[:3], OPENAI_ERROR_EVENT],
                                           gate_after=1))
    return Started(_provider("openai", await serve(fake.app), {"value": SECRET}), fake.gate.set)


ANTHROPIC = Models("claude-3-5-haiku-latest", "claude-3-5-haiku-latest", "claude-429", "claude-401",
                   "claude-overloaded")


async def start_anthropic(serve: ServeApp) -> Started:
    fake = anthropic.FakeAnthropic(valid_keys={SECRET})
    fake.queue(ANTHROPIC.rate_limited, anthropic.Reply(status=429, error_type="rate_limit_error",
                                                       error_message="Number of request tokens has exceeded your "
                                                                     "per-minute rate limit"))
    fake.queue(ANTHROPIC.refused, anthropic.Reply(status=401, error_type="authentication_error",
                                                  error_message="invalid x-api-key"))
    fake.queue(ANTHROPIC.broken, anthropic.Reply(events=anthropic.OVERLOADED_STREAM, gate_after=1))
    return Started(_provider("anthropic", await serve(fake.app), {"value": SECRET}), fake.gate.set)


GEMINI = Models("gemini-2.5-flash", "gemini-2.5-flash", "gemini-2.5-flash-429", "gemini-2.5-flash-refused",
                "gemini-2.5-flash-broken")
# the Gemini API refuses a bad key with 400 INVALID_ARGUMENT + ErrorInfo API_KEY_INVALID, not with a 401
GEMINI_BAD_KEY = orjson.dumps({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                                         "status": "INVALID_ARGUMENT", "details": [{
                                             "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                             "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}})
GOOGLE_ERROR_EVENT = (b'data: {"error": {"code": 503, "message": "The model is overloaded. Please try again later.",'
                      b' "status": "UNAVAILABLE"}}\r\n\r\n')


def _steer_google(fake: gemini.FakeGoogle, refused: gemini.Reply) -> None:
    fake.queue(GEMINI.rate_limited, gemini.Reply(status=429, error_status="RESOURCE_EXHAUSTED",
                                                 error_message="Resource has been exhausted (e.g. check quota).",
                                                 retry_delay="7s"))
    fake.queue(GEMINI.refused, refused)
    # FakeGoogle has no gate: a short pause between events lets the gateway commit the 200 on the first
    fake.queue(GEMINI.broken, gemini.Reply(events=[*gemini.TEXT_STREAM[:2], GOOGLE_ERROR_EVENT], delay=0.05))


async def start_gemini(serve: ServeApp) -> Started:
    fake = gemini.FakeGoogle(api_keys=(SECRET,))
    _steer_google(fake, gemini.Reply(status=400, error_body=GEMINI_BAD_KEY))
    return Started(_provider("gemini", await serve(fake.app), {"value": SECRET}), lambda: None)


ACCOUNT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ACCOUNT_PEM = ACCOUNT_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()


async def start_vertex(serve: ServeApp) -> Started:
    fake = gemini.FakeGoogle(public_key=ACCOUNT_KEY.public_key())
    fake.base_url = await serve(fake.app)
    _steer_google(fake, gemini.Reply(status=401, error_status="UNAUTHENTICATED",
                                     error_message="Request had invalid authentication credentials."))
    creds = {"type": "service_account", "project_id": "demo-project", "private_key_id": "0123abcd",
             "private_key": ACCOUNT_PEM, "client_email": "gateway@demo-project.iam.gserviceaccount.com",
             "client_id": "1234567890", "token_uri": fake.token_uri}
    key = {"value": "", "vertex_key_config": {"project_id": "demo-project", "region": "us-central1",
                                              "auth_credentials": orjson.dumps(creds).decode()}}
    return Started(_provider("vertex", fake.base_url, key), lambda: None)


BEDROCK = Models("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-5-sonnet-20240620-v1:0-tools",
                 "fail-429", "fail-401", "stream-exception-modelStreamErrorException")
BEDROCK_ACCESS_KEY = "AKIDFAKEBEDROCK"


async def start_bedrock(serve: ServeApp) -> Started:
    fake = FakeBedrock(access_key=BEDROCK_ACCESS_KEY, secret_key=SECRET)
    key = {"bedrock_key_config": {"access_key": BEDROCK_ACCESS_KEY, "secret_key": SECRET, "region": "us-west-2"}}
    return Started(_provider("bedrock", await serve(fake.app()), key), lambda: None)


COHERE = Models("command-a-03-2025", "command-a-03-2025", "command-a-429", "command-a-401", "command-a-broken")
COHERE_FAILED_END = (b'event: message-end\ndata: {"type":"message-end","delta":'
                     b'{"finish_reason":"ERROR","error":"internal server error, this has been reported"}}\n\n')


async def start_cohere(serve: ServeApp) -> Started:
    fake = cohere.FakeCohere()
    fake.queue(COHERE.rate_limited, cohere.Reply(status=429, error_message="You are using a Trial key, which is "
                                                                           "limited to 10 API calls / minute."))
    fake.queue(COHERE.refused, cohere.Reply(status=401, error_message="invalid api token"))
    fake.queue(COHERE.broken, cohere.Reply(events=[*cohere.STREAM[:4], COHERE_FAILED_END], gate_after=1))
    return Started(_provider("cohere", await serve(fake.app), {"value": SECRET}), fake.gate.set)


WIRES = (
    Wire("openai", OPENAI, "gpt-4o-mini-2024-07-18", True, (SECRET,), start_openai),
    Wire("anthropic", ANTHROPIC, "claude-opus-4-6", False, (SECRET,), start_anthropic),
    Wire("gemini", GEMINI, GEMINI.ok, True, (SECRET,), start_gemini),
    Wire("vertex", GEMINI, GEMINI.ok, True, ("PRIVATE KEY", ACCOUNT_PEM.splitlines()[1]), start_vertex),
    Wire("bedrock", BEDROCK, BEDROCK.ok, True, (SECRET, BEDROCK_ACCESS_KEY), start_bedrock),
    Wire("cohere", COHERE, COHERE.ok, False, (SECRET,), start_cohere),
)


class _Tee(httpx.AsyncByteStream):
    def __init__(self, inner: Any, sink: bytearray) -> None:
        self._inner, self._sink = inner, sink

    async def __aiter__(self):
        async for chunk in self._inner:
            self._sink.extend(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class RecordingTransport(httpx.AsyncBaseTransport):
    """The SDK's transport, keeping a copy of every response body as the SDK reads it (to see ``[DONE]``)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.bodies: list[bytearray] = []

    async def handle_async_request(self, request: Any) -> Any:
        response = await self._inner.handle_async_request(request)
        sink = bytearray()
        self.bodies.append(sink)
        return httpx.Response(response.status_code, headers=response.headers, extensions=response.extensions,
                              stream=_Tee(response.stream, sink))

    async def aclose(self) -> None:
        await self._inner.aclose()
