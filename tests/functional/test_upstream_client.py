"""The upstream call below ClientSession.request (upstream/client.py), through real sockets: what the upstream
sees, keep-alive, the pool limit, TLS (verified), a malformed status line; and the low-level server's Expect
handling."""
from __future__ import annotations

import asyncio
import datetime
import functools
import ipaddress
import ssl

import orjson
from aiohttp import web

from bifrost_proxy.upstream import session as session_module
from tests.conftest import TEST_SECRETS, openai_config
from tests.fakes.recording import recording

COMPLETION = recording("openai_chat_completion.json")
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}


class Upstream:
    """An OpenAI-shaped upstream that notes each request's connection (the peer's port) and raw head."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.order: list[str] = []
        self.gate: asyncio.Event | None = None
        self.arrived = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        n = len(self.seen)
        self.seen.append({"port": request.transport.get_extra_info("peername")[1], "headers": request.headers,
                          "body": body, "path": request.path_qs,
                          "tls": request.transport.get_extra_info("ssl_object") is not None})
        self.order.append(f"start{n}")
        self.arrived.set()
        if self.gate is not None and n == 0:
            await self.gate.wait()
        self.order.append(f"end{n}")
        return web.Response(body=COMPLETION, content_type="application/json")


async def test_the_upstream_gets_the_request_the_session_would_have_sent(gateway, serve_app, http):
    up = Upstream()
    base_url = await serve_app(up.app)
    conf = openai_config(base_url, extra_headers={"X-Team": "blue"})
    base = await gateway(conf)
    async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == 200
        assert (await resp.json())["object"] == "chat.completion"
    [seen] = up.seen
    headers = seen["headers"]
    assert headers["Host"] == base_url.removeprefix("http://")
    assert headers["Authorization"] == f"Bearer {TEST_SECRETS[0]}"
    assert headers["Content-Type"] == "application/json" and headers["X-Team"] == "blue"
    assert int(headers["Content-Length"]) == len(seen["body"])
    assert "gzip" in headers["Accept-Encoding"] and headers["User-Agent"].startswith("Python/")
    assert orjson.loads(seen["body"])["model"] == "gpt-4o-mini"  # the provider prefix is gone
    assert seen["path"] == "/v1/chat/completions"


async def test_calls_one_after_another_reuse_one_upstream_connection(gateway, serve_app, http):
    up = Upstream()
    base = await gateway(openai_config(await serve_app(up.app)))
    for _ in range(5):
        async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
            assert resp.status == 200
            await resp.read()
    assert len(up.seen) == 5
    assert len({s["port"] for s in up.seen}) == 1  # keep-alive: one connection served all five


async def test_the_per_host_pool_limit_holds(gateway, serve_app, http):
    up = Upstream()
    up.gate = asyncio.Event()
    conf = openai_config(await serve_app(up.app))
    conf["client"] = {"max_conns_per_host": 1}
    base = await gateway(conf)
    first = asyncio.ensure_future(http.post(f"{base}/v1/chat/completions", json=CHAT))
    await asyncio.wait_for(up.arrived.wait(), 5)
    second = asyncio.ensure_future(http.post(f"{base}/v1/chat/completions", json=CHAT))
    await asyncio.sleep(0.2)  # room for the second call to reach the upstream, were the pool not limited
    up.gate.set()
    for task in (first, second):
        resp = await asyncio.wait_for(task, 5)
        assert resp.status == 200
        resp.release()
    assert up.order == ["start0", "end0", "start1", "end1"]  # the second call waited for the only connection


async def test_a_malformed_status_line_is_a_502(gateway, http):
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 OK-ish\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        base = await gateway(openai_config(f"http://127.0.0.1:{port}"))
        async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
            assert resp.status == 502
            error = (await resp.json())["error"]
        assert error["type"] and "openai" in error["message"]
    finally:
        server.close()
        await server.wait_closed()


async def test_expect_100_continue_is_answered_before_the_body_is_sent(gateway, serve_app):
    up = Upstream()
    base = await gateway(openai_config(await serve_app(up.app)))
    host, port = base.removeprefix("http://").split(":")
    body = orjson.dumps(CHAT)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(body)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200") and b"X-Request-ID" in head
    finally:
        writer.close()
    assert len(up.seen) == 1


async def test_a_large_body_arrives_whole(gateway, serve_app, http):
    up = Upstream()
    base = await gateway(openai_config(await serve_app(up.app)))
    text = "lorem ipsum " * 40_000  # ~480 KB: sent behind the head, not joined to it
    async with http.post(f"{base}/v1/chat/completions",
                         json={**CHAT, "messages": [{"role": "user", "content": text}]}) as resp:
        assert resp.status == 200
    [seen] = up.seen
    assert int(seen["headers"]["Content-Length"]) == len(seen["body"])
    assert orjson.loads(seen["body"])["messages"][0]["content"] == text


def tls_contexts(tmp_path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for 127.0.0.1, and a client context trusting it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def serve_tls(app: web.Application, context: ssl.SSLContext, runners: list) -> str:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    runners.append(runner)
    return f"https://127.0.0.1:{runner.addresses[0][1]}"


async def test_an_https_upstream_is_reached_over_verified_tls(gateway, http, tmp_path, monkeypatch):
    server_tls, client_tls = tls_contexts(tmp_path)
    monkeypatch.setattr(session_module, "make_session", functools.partial(session_module.make_session,
                                                                          ssl=client_tls))
    up, runners = Upstream(), []
    try:
        base = await gateway(openai_config(await serve_tls(up.app, server_tls, runners)))
        for _ in range(2):
            async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
                assert resp.status == 200
                assert (await resp.json())["object"] == "chat.completion"
        assert len(up.seen) == 2 and len({s["port"] for s in up.seen}) == 1  # TLS and keep-alive
        assert all(s["tls"] for s in up.seen)
    finally:
        for runner in runners:
            await runner.cleanup()


async def test_an_https_upstream_with_an_untrusted_certificate_is_never_sent_the_request(gateway, http, tmp_path):
    server_tls, _ = tls_contexts(tmp_path)
    up, runners = Upstream(), []
    try:
        base = await gateway(openai_config(await serve_tls(up.app, server_tls, runners)))
        async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
            assert resp.status == 502
            assert "openai" in (await resp.json())["error"]["message"]
        assert up.seen == []  # the certificate was checked before any byte of the request went out
    finally:
        for runner in runners:
            await runner.cleanup()
