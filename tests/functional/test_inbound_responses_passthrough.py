"""POST /v1/responses passed through untouched to upstreams with the Responses API (openai, azure, and
providers with options.responses_api: native), over real sockets, with the official openai SDK."""
from __future__ import annotations

import asyncio
from typing import Any

import openai
import orjson
import pytest

from tests.conftest import TEST_SECRETS
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import Reply
from tests.fakes.openai_responses import RESPONSE, TEXT_EVENTS, FakeOpenAIResponses
from tests.fakes.recording import recording

CLIENT_KEY = "sk-client-virtual-key"
STORY = orjson.loads(RESPONSE)["output"][0]["content"][0]["text"]


@pytest.fixture
async def fake(serve_app) -> FakeOpenAIResponses:
    fake = FakeOpenAIResponses()
    fake.base_url = await serve_app(fake.app)
    return fake


@pytest.fixture
async def fake_anthropic(serve_app) -> FakeAnthropic:
    fake = FakeAnthropic(valid_keys={TEST_SECRETS[0]})
    fake.base_url = await serve_app(fake.app)
    return fake


def provider(base_url: str, secret: str = TEST_SECRETS[0], **extra: Any) -> dict[str, Any]:
    return {"keys": [{"name": "primary", "value": secret}], "network_config": {"base_url": base_url}, **extra}


@pytest.fixture
async def base(gateway, fake) -> str:
    return await gateway({"providers": {"openai": provider(fake.base_url)}})


@pytest.fixture
async def client(base):
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=CLIENT_KEY, max_retries=0) as c:
        yield c


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(block.split(b"\ndata: ", 1)[1]) for block in raw.split(b"\n\n") if block.strip()]


async def test_sdk_create_goes_through_untouched_but_for_model(client, fake):
    result = await client.responses.create(
        model="openai/gpt-4o-mini", input="Tell me a story", previous_response_id="resp_earlier", store=True,
        tools=[{"type": "web_search"}], include=["web_search_call.action.sources"],
        extra_body={"a_field_from_next_year": {"kept": [1, 2]}, "fallbacks": []})
    assert result.output_text == STORY and result.id == "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
    (seen,) = fake.calls
    assert seen.path == "/v1/responses"
    assert seen.body == {"model": "gpt-4o-mini", "input": "Tell me a story", "previous_response_id": "resp_earlier",
                         "store": True, "tools": [{"type": "web_search"}],
                         "include": ["web_search_call.action.sources"], "a_field_from_next_year": {"kept": [1, 2]}}
    assert seen.key == TEST_SECRETS[0] and CLIENT_KEY not in str(seen.headers)


async def test_non_stream_answer_is_relayed_byte_for_byte(base, http):
    async with http.post(f"{base}/v1/responses", json={"model": "gpt-4o-mini", "input": "Hi"}) as resp:
        assert resp.status == 200 and resp.headers["x-bifrost-provider"] == "openai"
        assert await resp.read() == RESPONSE


async def test_stream_is_relayed_byte_for_byte(base, fake, http):
    body = {"model": "openai/gpt-4o-mini", "input": "Hi", "stream": True}
    async with http.post(f"{base}/v1/responses", json=body) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        assert resp.headers["X-Accel-Buffering"] == "no"
        assert await resp.read() == b"".join(TEXT_EVENTS)
    assert fake.calls[0].body["stream"] is True


async def test_sdk_stream_helper_over_passthrough(client):
    async with client.responses.stream(model="gpt-4o-mini", input="Hi") as stream:
        types = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert final.output_text == "Once upon a time, in Zürich 🐉." and final.usage.total_tokens == 48
    assert types[0] == "response.created" and types[-1] == "response.completed"


async def test_usage_of_a_passed_through_stream_reaches_the_access_log(base, http, caplog):
    body = {"model": "openai/gpt-4o-mini", "input": "Hi", "stream": True}
    async with http.post(f"{base}/v1/responses", json=body, headers={"X-Request-ID": "usage-7"}) as resp:
        await resp.read()

    def logged() -> list[dict[str, Any]]:
        lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "bifrost_proxy.access"]
        return [line for line in lines if line["request_id"] == "usage-7"]

    async with asyncio.timeout(5):  # the line is written just after the last byte went out
        while not logged():
            await asyncio.sleep(0.01)
    (line,) = logged()
    assert (line["tokens_in"], line["tokens_out"]) == (37, 11)


@pytest.mark.parametrize("key_config, path", [
    ({}, "/openai/v1/responses"),
    ({"api_version": "2025-04-01-preview"}, "/openai/responses?api-version=2025-04-01-preview"),
])
async def test_azure_gets_its_own_path_and_api_key_header(gateway, fake, http, key_config, path):
    azure = {"keys": [{"name": "primary", "value": TEST_SECRETS[0], "aliases": {"gpt-4o": "my-deployment"},
                       "azure_key_config": {"endpoint": fake.base_url, **key_config}}]}
    base = await gateway({"providers": {"azure": azure}})
    async with http.post(f"{base}/v1/responses", json={"model": "azure/gpt-4o", "input": "Hi"}) as resp:
        assert resp.status == 200
    (seen,) = fake.calls
    assert seen.path == path and seen.body["model"] == "my-deployment"
    assert seen.headers["api-key"] == TEST_SECRETS[0] and "Authorization" not in seen.headers


async def test_responses_api_option_picks_passthrough_or_translation(gateway, fake, http):
    base = await gateway({"providers": {
        "openai": provider(fake.base_url, options={"responses_api": "translate"}),
        "vllm": provider(fake.base_url, TEST_SECRETS[1], options={"responses_api": "native"}),
    }})
    for model in ("openai/gpt-4o-mini", "vllm/gpt-4o"):
        async with http.post(f"{base}/v1/responses", json={"model": model, "input": "Hi"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["object"] == "response"
    assert [(c.path, c.key) for c in fake.calls] == [("/v1/chat/completions", TEST_SECRETS[0]),
                                                     ("/v1/responses", TEST_SECRETS[1])]


async def test_a_bad_responses_api_option_fails_config_validation(gateway, fake):
    from bifrost_proxy.config.load import ConfigError

    with pytest.raises(ConfigError, match=r"providers\.openai\.options\.responses_api: must be 'native' or "):
        await gateway({"providers": {"openai": provider(fake.base_url, options={"responses_api": "yes"})}})


async def test_upstream_4xx_keeps_status_and_message(client, fake):
    fake.queue("gpt-4o-mini", Reply(status=400, error_type="invalid_request_error",
                                    error_message="Previous response with id 'resp_x' not found."))
    with pytest.raises(openai.BadRequestError, match="Previous response with id 'resp_x' not found"):
        await client.responses.create(model="openai/gpt-4o-mini", input="Hi", previous_response_id="resp_x")


@pytest.mark.parametrize("reply, code", [
    (Reply(reset_after=5), "stream_incomplete"),
    (Reply(garbage_after=5), "malformed_upstream_event"),
])
async def test_failure_mid_stream_ends_with_response_failed_numbered_after_the_last_event(base, fake, http, reply,
                                                                                           code, caplog):
    fake.queue("gpt-4o-mini", reply)
    body = {"model": "openai/gpt-4o-mini", "input": "Hi", "stream": True}
    async with http.post(f"{base}/v1/responses", json=body) as resp:
        assert resp.status == 200
        raw = await resp.read()
    assert raw.startswith(b"".join(TEXT_EVENTS[:5]))
    events = sse_events(raw)
    assert [e["type"] for e in events[5:]] == ["response.failed"]
    failed = events[5]
    assert failed["sequence_number"] == 5
    assert failed["response"]["id"] == events[0]["response"]["id"] and failed["response"]["status"] == "failed"
    assert failed["response"]["error"]["code"] == "server_error"


async def test_an_error_event_before_anything_was_sent_is_retried(gateway, fake, http):
    error = b'event: error\ndata: {"type":"error","sequence_number":0,"code":"server_error","message":"boom"}\n\n'
    fake.queue("gpt-4o-mini", Reply(events=[error]), Reply())
    conf = {"providers": {"openai": provider(fake.base_url)}}
    conf["providers"]["openai"]["network_config"].update(max_retries=1, retry_backoff_initial=1, retry_backoff_max=1)
    base = await gateway(conf)
    body = {"model": "openai/gpt-4o-mini", "input": "Hi", "stream": True}
    async with http.post(f"{base}/v1/responses", json=body) as resp:
        assert resp.status == 200 and resp.headers["x-bifrost-attempts"] == "2"
        assert await resp.read() == b"".join(TEXT_EVENTS)


async def test_a_failed_passthrough_falls_back_to_a_translated_provider(gateway, fake, fake_anthropic, http):
    fake.queue("gpt-4o-mini", Reply(status=503, error_message="overloaded"))
    base = await gateway({"providers": {"openai": provider(fake.base_url),
                                        "anthropic": provider(fake_anthropic.base_url)}})
    body = {"model": "gpt-4o-mini", "input": "Hi", "fallbacks": ["anthropic/claude-3-5-haiku-latest"]}
    async with http.post(f"{base}/v1/responses", json=body) as resp:
        assert resp.status == 200 and resp.headers["x-bifrost-provider"] == "anthropic"
        answer = await resp.json()
    assert answer["output"][0]["content"][0]["text"] == "Hi! My name is Claude."
    assert [c.path for c in fake.calls] == ["/v1/responses"]
    assert fake_anthropic.calls[0].body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]


def test_recorded_streams_number_their_events_from_zero():
    for name in ("openai_responses_text.sse", "openai_responses_tools.sse"):
        events = sse_events(recording(name))
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
