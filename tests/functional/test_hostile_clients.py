"""Bad input and hostile clients (issue 6): every answer is a 4xx in the contract's shape, never a 500, and
the gateway keeps serving; a slow client ties up only its own connection.

Property tests throw generated bodies, headers and routes at one gateway per test (hypothesis examples
share it, hence the suppressed function-scoped-fixture health check). Slow clients are proven by relative
progress: other clients finish whole requests and streams while the slow one has made almost none.
"""
from __future__ import annotations

import asyncio
import io
import socket
import string
from typing import Any

import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_proxy.app import make_app
from bifrost_proxy.appkeys import RUNTIME
from bifrost_proxy.config.load import parse_config
from tests.conftest import TEST_SECRETS
from tests.fakes.faults import Fault, FaultyOpenAI
from tests.fakes.secrets_check import ResponseScanner

# hypothesis's failure report imports a module that warns; with filterwarnings=error that would hide the report
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
JSON_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/audio/speech")
FORM_ROUTES = ("/v1/audio/transcriptions", "/v1/audio/translations")
KNOWN = {("GET", "/health"), ("GET", "/metrics"), ("GET", "/v1/models")} | \
    {("POST", r) for r in JSON_ROUTES + FORM_ROUTES}
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def gw(serve_app) -> str:
    fake = FaultyOpenAI()
    fake.base_url = await serve_app(fake.app)
    cfg = {"providers": {"openai": {"keys": [{"name": "a", "value": TEST_SECRETS[0]}],
                                    "network_config": {"base_url": fake.base_url}}},
           "client": {"max_request_body_size_mb": 1}}
    return await serve_app(make_app(parse_config(cfg, "<test>", {})))


async def check_answer(resp, *, allow_ok: bool = True) -> None:
    """A success, or a 4xx with the contract's error shape; never a 5xx, never a traceback."""
    raw = await resp.read()
    assert resp.status < 500, (resp.status, raw[:300])
    assert "X-Request-ID" in resp.headers
    if resp.status >= 400:
        assert resp.headers["Content-Type"].startswith("application/json"), raw[:200]
        error = orjson.loads(raw)["error"]
        assert set(error) == {"message", "type", "code", "param"}
        assert isinstance(error["message"], str) and error["message"]
        assert b"Traceback" not in raw
    else:
        assert allow_ok, (resp.status, raw[:200])


async def still_serving(http, base: str) -> None:
    async with http.get(f"{base}/health") as resp:
        assert resp.status == 200
    async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == 200


# ---------------------------------------------------------------- generated bodies

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 63), max_value=2 ** 64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
models = st.sampled_from(["openai/gpt-4o-mini", "openai/", "/gpt", "gpt-4o", "", "nope/x", "openai/a/b/c",
                          "openai/" + "m" * 5000]) | json_values
messages = (st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "tool"])
                                            | json_values}, optional={"content": json_values}), max_size=3)
            | json_values)
FIELDS = {"model": models, "messages": messages, "prompt": json_values, "input": json_values,
          "stream": st.booleans() | json_values, "stream_options": json_values,
          "fallbacks": st.lists(models, max_size=3) | json_values, "n": json_values, "temperature": json_values,
          "tools": json_values, "encoding_format": st.sampled_from(["float", "base64", "x"]) | json_values,
          "voice": json_values, "response_format": json_values, "user": json_values}
VALID = {"/v1/chat/completions": CHAT, "/v1/completions": {"model": "openai/gpt-4o-mini", "prompt": "hi"},
         "/v1/embeddings": {"model": "openai/text-embedding-3-small", "input": "hi"},
         "/v1/audio/speech": {"model": "openai/tts-1", "input": "hi", "voice": "alloy"}}


def one_field_changed(route: str) -> st.SearchStrategy[dict[str, Any]]:
    """A valid body for ``route`` with one field replaced by a generated value, or removed."""
    valid = VALID[route]
    return st.sampled_from(sorted(FIELDS)).flatmap(lambda name: st.one_of(
        FIELDS[name].map(lambda value: {**valid, name: value}),
        st.just({k: v for k, v in valid.items() if k != name})))


def bodies_for(route: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=FIELDS) | one_field_changed(route)


@PROPERTY
@given(data=st.data(), route=st.sampled_from(JSON_ROUTES))
async def test_wrong_types_and_shapes_in_json_bodies(gw, http, data, route):
    body = data.draw(bodies_for(route), label="body")
    async with http.post(gw + route, data=orjson.dumps(body), headers={"Content-Type": "application/json"}) as resp:
        await check_answer(resp)


@PROPERTY
@given(route=st.sampled_from(JSON_ROUTES), payload=st.binary(max_size=200)
       | st.text(max_size=200).map(str.encode) | json_values.map(orjson.dumps))
async def test_malformed_json_and_non_object_bodies(gw, http, route, payload):
    async with http.post(gw + route, data=payload, headers={"Content-Type": "application/json"}) as resp:
        await check_answer(resp)


HUGE = {
    "nested 100k deep": (b"[" * 100_000 + b"]" * 100_000, 400),  # far past any parser's recursion limit
    "nested messages": (b'{"model": "openai/x", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400),
    "float overflow": (b'{"model": "openai/gpt-4o-mini", "messages": [], "n": 1e400}', 400),
    "lone surrogate": (b'{"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "\\ud800"}]}',
                       400),
    "2 MB over a 1 MB limit": (orjson.dumps({**CHAT, "messages": [{"role": "user", "content": "x" * 2 ** 21}]}),
                               413),
    "500 kB model name": (orjson.dumps({**CHAT, "model": "openai/" + "m" * 500_000}), 200),
    "10k fallbacks": (orjson.dumps({**CHAT, "fallbacks": ["openai/x"] * 10_000}), 400),
}


@pytest.mark.parametrize("name", HUGE)
async def test_huge_and_deeply_nested_values(gw, http, name):
    payload, status = HUGE[name]
    async with http.post(f"{gw}/v1/chat/completions", data=io.BytesIO(payload),
                         headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == status
        await check_answer(resp)
    await still_serving(http, gw)


# ---------------------------------------------------------------- broken multipart

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64


def part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"Content-Disposition: {disposition}\r\n\r\n".encode() + value


def form(boundary: str, parts: list[bytes], close: bool = True) -> bytes:
    b = boundary.encode()
    body = b"".join(b"--" + b + b"\r\n" + p + b"\r\n" for p in parts)
    return body + (b"--" + b + b"--\r\n" if close else b"")


BROKEN_FORMS = [
    ("multipart/form-data", form("X", [part("model", b"openai/whisper-1")])),  # no boundary parameter
    ("multipart/form-data; boundary=Y", form("X", [part("model", b"openai/whisper-1")])),  # wrong boundary
    ("multipart/form-data; boundary=X", form("X", [part("file", MP3, "a.mp3")], close=False)),  # truncated
    ("multipart/form-data; boundary=X", b"--X\r\ngarbage without a blank line"),
    ("multipart/form-data; boundary=X", b"--X\r\nContent-Disposition: form-data\r\n\r\nx\r\n--X--\r\n"),
    ("multipart/form-data; boundary=X", form("X", [b"Content-Type: text/plain\r\n\r\nno disposition"])),
    ("multipart/form-data; boundary=X", form("X", [part("model", b"\xff\xfe not utf-8")])),
    ("multipart/form-data; boundary=X", form("X", [part("model", b"x" * 200_000)])),
    ("multipart/form-data; boundary=X", form("X", [part("file", MP3, "a.mp3"), part("file", MP3, "b.mp3")])),
    ("multipart/form-data; boundary=X", form("X", [part("file", b"not audio", "a.mp3"),
                                                   part("model", b"openai/whisper-1")])),
    ("multipart/form-data; boundary=X", form("X", [part("model", b"openai/whisper-1")] * 100)),
    ("multipart/form-data; boundary=" + "b" * 5000, b"--" + b"b" * 5000 + b"--\r\n"),
    ("multipart/mixed; boundary=X", form("X", [form("Y", [part("a", b"b")])])),
    ("application/x-www-form-urlencoded", b"model=openai/whisper-1&file=abc"),
    ("text/plain", b"hello"),
    ("multipart/form-data; boundary=X", b""),
]


@pytest.mark.parametrize("route", FORM_ROUTES)
@pytest.mark.parametrize("content_type, payload", BROKEN_FORMS, ids=range(len(BROKEN_FORMS)))
async def test_broken_multipart(gw, http, route, content_type, payload):
    async with http.post(gw + route, data=payload, headers={"Content-Type": content_type}) as resp:
        await check_answer(resp, allow_ok=False)


@PROPERTY
@given(route=st.sampled_from(FORM_ROUTES), boundary=st.text(string.ascii_letters + string.digits + "'()+_,-./:=?",
                                                            min_size=1, max_size=70),
       payload=st.binary(max_size=300))
async def test_generated_multipart_garbage(gw, http, route, boundary, payload):
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with http.post(gw + route, data=payload, headers=headers) as resp:
        await check_answer(resp, allow_ok=False)


# ---------------------------------------------------------------- odd headers and unknown routes

header_names = st.text(string.ascii_letters + string.digits + "-_!#$%&'*+.^`|~", min_size=1, max_size=30)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                        max_size=200).map(str.strip)
SPECIAL_HEADERS = st.sampled_from(["Content-Type", "Content-Encoding", "X-Request-ID", "Accept", "Accept-Encoding",
                                   "Authorization", "Expect", "Connection", "Cookie", "Range", "Origin",
                                   "X-Forwarded-For", "Content-Language"])


@PROPERTY
@given(route=st.sampled_from(JSON_ROUTES),
       headers=st.dictionaries(SPECIAL_HEADERS | header_names, header_values, max_size=6))
async def test_odd_headers(gw, http, route, headers):
    headers = {k: v for k, v in headers.items()
               if k.lower() not in ("content-length", "transfer-encoding", "host", "expect", "connection")}
    async with http.post(gw + route, data=orjson.dumps(CHAT), headers=headers) as resp:
        await check_answer(resp)
        request_id = resp.headers["X-Request-ID"]
    given_id = next((v for k, v in headers.items() if k.lower() == "x-request-id"), None)
    if given_id and given_id.isascii() and given_id.isprintable() and len(given_id) <= 128:
        assert request_id == given_id
    else:
        assert len(request_id) == 32


path_segments = st.text(string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@", min_size=1, max_size=20)


@PROPERTY
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"]),
       segments=st.lists(path_segments, max_size=5), query=st.text(string.ascii_letters + "=&%", max_size=20))
async def test_unknown_routes_and_methods(gw, http, method, segments, query):
    path = "/" + "/".join(segments)
    async with http.request(method, gw + path + ("?" + query if query else ""), data=b"{}") as resp:
        if (method, resp.url.path) in KNOWN or method == "HEAD":
            assert resp.status < 500
            return
        assert resp.status in (404, 405), resp.status
        await check_answer(resp)


async def test_the_gateway_keeps_serving_after_every_property_test(gw, http):
    await still_serving(http, gw)


# ---------------------------------------------------------------- bytes that are not HTTP


PROTOCOL_GARBAGE = [
    b"GARBAGE\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nBad Header: y\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n",
    b"FOO /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",  # a method HTTP does not have
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),  # a TLS ClientHello on a plain port
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Encoding: deflate\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nContent-Length: 5\r\n\r\nhello",
]


async def exchange(base: str, raw: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.transport.abort()


@pytest.mark.parametrize("raw", PROTOCOL_GARBAGE, ids=range(len(PROTOCOL_GARBAGE)))
async def test_bytes_that_are_not_http_get_a_4xx_and_the_gateway_keeps_serving(gw, http, raw):
    answer = await exchange(gw, raw)
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.") and status_line.split()[1][:1] == b"4", status_line
    if b"application/json" in answer.split(b"\r\n\r\n", 1)[0]:
        body = answer.split(b"\r\n\r\n", 1)[1]
        assert set(orjson.loads(body)["error"]) == {"message", "type", "code", "param"}
    await still_serving(http, gw)


# ---------------------------------------------------------------- slow clients


@pytest.fixture
async def slow_setup(serve_app):
    fake = FaultyOpenAI()
    fake.base_url = await serve_app(fake.app)
    cfg = {"providers": {"openai": {"keys": [{"name": "a", "value": TEST_SECRETS[0]}],
                                    "network_config": {"base_url": fake.base_url}}}}
    app = make_app(parse_config(cfg, "<test>", {}))
    return fake, app, await serve_app(app)


async def test_a_client_sending_a_byte_at_a_time_ties_up_only_its_own_connection(slow_setup, http):
    """For each byte the slow client sends, another client completes a whole request and a whole stream."""
    fake, _, base = slow_setup
    host, port = base.removeprefix("http://").split(":")
    body = orjson.dumps({**CHAT, "user": "slow"})
    raw = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    reader, writer = await asyncio.open_connection(host, int(port))
    # many more connections stuck after a few bytes: none of them may hold the others up either
    stuck = [await asyncio.open_connection(host, int(port)) for _ in range(20)]
    for _, w in stuck:
        w.write(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Le")
    fast_done = 0
    for i, byte in enumerate(raw[:-1]):
        writer.write(bytes([byte]))
        await writer.drain()
        if i % 10 == 0:
            async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
                assert resp.status == 200 and (await resp.read()).endswith(b"data: [DONE]\n\n")
        else:
            async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
                assert resp.status == 200
        fast_done += 1
    assert fast_done == len(raw) - 1 and fake.for_tag("slow") == []  # the slow request is not complete yet
    writer.write(raw[-1:])
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    assert len(fake.for_tag("slow")) == 1
    for _, w in stuck + [(reader, writer)]:
        w.transport.abort()


async def test_a_client_reading_its_stream_slowly_ties_up_only_its_own_connection(slow_setup, http):
    """A client that stops reading pauses its own upstream (back-pressure) while other streams run to the
    end at full pace; then it reads on and still gets its whole stream."""
    fake, app, base = slow_setup
    events = 4000
    fault = Fault(events=events, event_size=8192)  # about 33 MB: more than every socket buffer on the path
    fake.script_tag("slow", fault)
    for i in range(3):
        fake.script_tag(f"fast{i}", fault)
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # keep the kernel from reading for the client
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock)
    body = orjson.dumps({**CHAT, "stream": True, "user": "slow"})
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    await asyncio.wait_for(fake.wait_calls(1), 5)
    [slow] = fake.for_tag("slow")

    async def fast(i: int) -> int:
        async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True, "user": f"fast{i}"}) as r:
            assert r.status == 200
            raw = await r.read()
        assert raw.endswith(b"data: [DONE]\n\n")
        return raw.count(b"\n\n")

    counts = await asyncio.gather(*(fast(i) for i in range(3)))
    assert counts == [events + 1] * 3
    # relative progress: three whole streams went through while the unread one is held back upstream
    assert slow.events_sent < events and not slow.finished
    assert app[RUNTIME].current.providers["openai"].limiter.in_flight == 1
    received = 0
    while chunk := await asyncio.wait_for(reader.read(1 << 20), 10):
        received += chunk.count(b"\n\n")
        if b"data: [DONE]\n\n" in chunk or b"0\r\n\r\n" in chunk[-5:]:
            break
    assert slow.events_sent == events + 1  # and [DONE]
    writer.transport.abort()


# ---------------------------------------------------------------- the response scan itself


async def test_the_response_scanner_catches_a_leaking_gateway(serve_app, http, no_secrets_in_responses):
    """The conftest-level scan of every gateway response: prove it fails on a leak, split or not."""
    scanner: ResponseScanner = no_secrets_in_responses
    scanned_before = scanner.responses
    secret = TEST_SECRETS[1].encode()

    async def leaky_json(request: web.Request) -> web.Response:
        return web.Response(body=b'{"oops": "' + secret + b'"}')

    async def leaky_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"data: " + secret[:7])
        await response.write(secret[7:] + b"\n\n")
        return response

    async def leaky_header(request: web.Request) -> web.Response:
        return web.Response(headers={"X-Debug": secret.decode()})

    async def clean(request: web.Request) -> web.Response:
        return web.Response(body=b"fine")

    app = web.Application()
    app[RUNTIME] = None  # type: ignore[assignment]  # what marks a gateway app
    for path, handler in (("/json", leaky_json), ("/stream", leaky_stream), ("/header", leaky_header),
                          ("/clean", clean)):
        app.router.add_get(path, handler)
    base = await serve_app(app)
    async with http.get(f"{base}/clean") as resp:
        await resp.read()
    assert scanner.responses == scanned_before + 1 and not scanner.leaks
    for path in ("/json", "/stream", "/header"):
        async with http.get(base + path) as resp:
            await resp.read()
    assert len(set(scanner.leaks)) == 3
    with pytest.raises(AssertionError, match="appeared in gateway responses") as info:
        scanner.assert_clean()
    assert TEST_SECRETS[1] not in str(info.value)
    scanner.leaks.clear()  # the leaks were this test's doing; the fixture's own check must pass
