"""Chat completions through the gateway against the fake OpenAI upstream, over real sockets."""
from __future__ import annotations

import asyncio

import orjson

from tests.conftest import TEST_SECRETS, openai_config
from tests.fakes.openai import STREAM, STREAM_WITHOUT_USAGE, TOOLS_STREAM, USAGE_EVENTS, Reply

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}


async def test_non_stream_returns_upstream_completion(gateway, fake_openai, http):
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
        assert resp.status == 200
        body = await resp.json()
        assert resp.headers["x-bifrost-provider"] == "openai"
        assert resp.headers["x-bifrost-model"] == "gpt-4o-mini"
        assert resp.headers["X-Request-ID"]
    assert body["model"] == "gpt-4o-mini-2024-07-18"
    assert body["choices"][0]["message"]["content"].startswith("Once upon")
    seen = fake_openai.calls[0]
    assert seen.body["model"] == "gpt-4o-mini"  # prefix stripped
    assert seen.key == TEST_SECRETS[0]
    assert "fallbacks" not in seen.body


async def test_stream_relays_exact_upstream_bytes(gateway, fake_openai, http):
    base = await gateway(openai_config(fake_openai.base_url))
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert resp.headers["Cache-Control"] == "no-cache"
        assert resp.headers["X-Accel-Buffering"] == "no"
        assert resp.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Encoding" not in resp.headers
        raw = await resp.read()
    assert raw == b"".join(STREAM)
    assert raw.endswith(b"data: [DONE]\n\n")


async def test_usage_is_requested_but_not_shown_to_a_client_that_did_not_ask(gateway, fake_openai, http):
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        raw = await resp.read()
    assert fake_openai.calls[0].body["stream_options"] == {"include_usage": True}
    assert raw == b"".join(STREAM_WITHOUT_USAGE)
    assert USAGE_EVENTS and USAGE_EVENTS[0] not in raw


async def test_usage_request_can_be_turned_off_per_provider(gateway, fake_openai, http):
    config = openai_config(fake_openai.base_url)
    config["providers"]["openai"]["options"] = {"stream_usage": False}
    base = await gateway(config)
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        raw = await resp.read()
    assert "stream_options" not in fake_openai.calls[0].body
    assert raw == b"".join(STREAM_WITHOUT_USAGE)


async def test_each_event_reaches_client_before_upstream_sends_next(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(gate_after=1))
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        # one HTTP chunk per event: the first chunk is exactly the first event
        first, _ = await asyncio.wait_for(resp.content.readchunk(), 5)
        assert first == STREAM[0]
        assert len(fake_openai.calls) == 1 and not fake_openai.gate.is_set()
        fake_openai.gate.set()
        rest = await resp.read()
    assert first + rest == b"".join(STREAM_WITHOUT_USAGE)


async def test_tool_call_deltas_and_usage_pass_through(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(events=TOOLS_STREAM))
    base = await gateway(openai_config(fake_openai.base_url))
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
        raw = await resp.read()
    assert raw == b"".join(TOOLS_STREAM)
    assert fake_openai.calls[0].body["stream_options"] == {"include_usage": True}


async def test_garbage_mid_stream_ends_with_one_error_event_and_no_done(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(garbage_after=2))
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        assert resp.status == 200
        raw = await resp.read()
    events = [e for e in raw.split(b"\n\n") if e]
    assert [e + b"\n\n" for e in events[:2]] == STREAM[:2]
    assert len(events) == 3
    error = orjson.loads(events[2].removeprefix(b"data: "))["error"]
    assert error["code"] == "malformed_upstream_event"
    assert b"[DONE]" not in raw and b"this is not json" not in raw


async def test_reset_mid_stream_ends_with_error_event(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(reset_after=3))
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        raw = await resp.read()
    events = [e for e in raw.split(b"\n\n") if e]
    assert len(events) == 4
    assert orjson.loads(events[-1].removeprefix(b"data: "))["error"]["type"] == "upstream_error"
    assert b"[DONE]" not in raw


async def test_stream_idle_timeout_mid_stream(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(hang_after=2))
    base = await gateway(openai_config(fake_openai.base_url, stream_idle_timeout_in_seconds=0.2,
                                       stream_keepalive_interval_in_seconds=0))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        raw = await asyncio.wait_for(resp.read(), 10)
    events = [e for e in raw.split(b"\n\n") if e]
    error = orjson.loads(events[-1].removeprefix(b"data: "))["error"]
    assert error["type"] == "timeout_error" and error["code"] == "stream_idle_timeout"
    assert b"[DONE]" not in raw
    await asyncio.wait_for(fake_openai.client_gone.wait(), 5)  # the upstream request was closed


async def test_keepalive_pings_while_upstream_is_silent(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(gate_after=1))
    base = await gateway(openai_config(fake_openai.base_url, stream_keepalive_interval_in_seconds=0.05))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        first, _ = await resp.content.readchunk()
        ping, _ = await asyncio.wait_for(resp.content.readchunk(), 5)
        assert ping == b": ping\n\n"
        fake_openai.gate.set()
        rest = await resp.read()
    assert first == STREAM[0]
    assert rest.replace(b": ping\n\n", b"") == b"".join(STREAM_WITHOUT_USAGE[1:])


async def test_first_byte_timeout_is_504(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(hang_before=True))
    base = await gateway(openai_config(fake_openai.base_url, default_request_timeout_in_seconds=0.2))
    for stream in (False, True):
        async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": stream}) as resp:
            assert resp.status == 504
            assert (await resp.json())["error"]["type"] == "timeout_error"


async def test_stream_max_duration(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(delay=0.1))
    base = await gateway(openai_config(fake_openai.base_url, stream_max_duration_in_seconds=0.25))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        raw = await resp.read()
    events = [e for e in raw.split(b"\n\n") if e]
    assert orjson.loads(events[-1].removeprefix(b"data: "))["error"]["code"] == "stream_max_duration"
    assert b"[DONE]" not in raw


async def test_client_disconnect_cancels_upstream(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(hang_after=1))
    base = await gateway(openai_config(fake_openai.base_url))
    resp = await http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True})
    await resp.content.readchunk()
    resp.close()  # drop the connection mid-stream
    await asyncio.wait_for(fake_openai.client_gone.wait(), 5)
    assert fake_openai.in_flight == 0


async def test_200_concurrent_streams_arrive_intact(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(delay=0.001))
    base = await gateway(openai_config(fake_openai.base_url))

    async def one() -> bytes:
        async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
            return await resp.read()

    connector_http = http  # the default connector allows 100 at once; the rest queue client-side
    results = await asyncio.gather(*(one() for _ in range(200)))
    assert connector_http is http
    assert all(r == b"".join(STREAM_WITHOUT_USAGE) for r in results)
    assert len(fake_openai.calls) == 200


async def test_client_disconnect_cancels_a_waiting_non_stream_call(gateway, fake_openai, http):
    fake_openai.queue("gpt-4o-mini", Reply(hang_before=True))
    base = await gateway(openai_config(fake_openai.base_url))
    task = asyncio.ensure_future(http.post(f"{base}/v1/chat/completions", json=CHAT))
    while not fake_openai.calls:
        await asyncio.sleep(0.01)
    task.cancel()  # the client gives up and closes its connection
    await asyncio.wait_for(fake_openai.client_gone.wait(), 5)
    assert fake_openai.in_flight == 0


async def test_models_lists_configured_and_upstream_models(gateway, fake_openai, http):
    config = openai_config(fake_openai.base_url)
    config["providers"]["local"] = {"type": "openai", "network_config": {"base_url": fake_openai.base_url},
                                    "keys": [{"name": "k", "models": ["llama3", "qwen"]}]}
    base = await gateway(config)
    async with http.get(f"{base}/v1/models") as resp:
        body = await resp.json()
    ids = [m["id"] for m in body["data"]]
    assert body["object"] == "list"
    assert ids == ["openai/gpt-4o", "openai/gpt-4o-mini", "local/llama3", "local/qwen"]


async def test_a_key_echoed_in_a_mid_stream_error_is_redacted(gateway, fake_openai, http):
    echo = (b'data: {"error": {"message": "bad key ' + TEST_SECRETS[0].encode() + b'", "type": "weird"}}\n\n')
    fake_openai.queue("gpt-4o-mini", Reply(events=[STREAM[0], echo]))
    base = await gateway(openai_config(fake_openai.base_url))
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        raw = await resp.read()
    error = orjson.loads(raw.split(b"\n\n")[1].removeprefix(b"data: "))["error"]
    assert error["message"] == "bad key <key primary>"
