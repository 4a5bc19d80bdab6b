"""The Anthropic Messages API in front of an anthropic provider: requests and answers go through untouched
(every field, the client's beta headers), through the same retries, fallbacks and error rules (issue 13)."""
from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest

from tests.conftest import TEST_SECRETS, openai_config
from tests.fakes.anthropic import OVERLOADED_STREAM, STREAM, THINKING_STREAM, TOOLS_MESSAGE, TOOLS_STREAM, \
    FakeAnthropic, Reply
from tests.fakes.secrets_check import watch_gateway_responses

CLIENT_KEY = "sk-ant-client-own-5ecret"
MODEL = "claude-3-5-haiku-latest"
HELLO = [{"role": "user", "content": "Hello"}]
# what Claude Code sends: cache marks, thinking, metadata, a server tool, and fields newer than this gateway
NATIVE = {
    "model": MODEL, "max_tokens": 2048,
    "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Fix the bug", "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Look at the test first.", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"},
            {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"path": "a.py"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "x = 1"}]}],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "metadata": {"user_id": "user_abc_account_123_session_456"},
    "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
              {"name": "Read", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
    "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
    "some_future_field": {"kept": True},
}


@pytest.fixture(autouse=True)
def client_key_never_leaks(monkeypatch, caplog):
    """The client's own key is checked like the provider keys: in every response and every log line."""
    scanner = watch_gateway_responses(monkeypatch, (CLIENT_KEY,))
    yield
    scanner.assert_clean()
    assert CLIENT_KEY not in caplog.text


@pytest.fixture
async def fake_anthropic(serve_app) -> FakeAnthropic:
    fake = FakeAnthropic(valid_keys={TEST_SECRETS[0]})
    fake.base_url = await serve_app(fake.app)
    return fake


def anthropic_config(base_url: str, **network: Any) -> dict[str, Any]:
    return {"providers": {"anthropic": {
        "keys": [{"name": "primary", "value": TEST_SECRETS[0]}],
        "network_config": {"base_url": base_url, **network},
    }}}


@pytest.fixture
async def base(gateway, fake_anthropic) -> str:
    return await gateway(anthropic_config(fake_anthropic.base_url, extra_headers={"anthropic-beta": "from-config"}))


@pytest.fixture
async def client(base):
    async with anthropic.AsyncAnthropic(base_url=f"{base}/anthropic", api_key=CLIENT_KEY, max_retries=0) as c:
        yield c


def event_types(raw: bytes) -> list[str]:
    return [line[7:].decode() for line in raw.split(b"\n") if line.startswith(b"event: ")]


async def post(http, base: str, body: dict[str, Any], path: str = "/anthropic/v1/messages",
               **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with http.post(base + path, json=body, headers={"x-api-key": CLIENT_KEY, **headers}) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_every_field_and_the_clients_headers_go_through(base, http, fake_anthropic):
    status, headers, raw = await post(http, base, NATIVE, **{"anthropic-version": "2023-06-01",
                                                            "anthropic-beta": "interleaved-thinking-2025-05-14, "
                                                                              "context-management-2025-06-27"})
    assert status == 200 and raw == TOOLS_MESSAGE  # the answer, byte for byte
    assert headers["x-bifrost-provider"] == "anthropic"
    (seen,) = fake_anthropic.calls
    assert seen.path == "/v1/messages" and seen.body == NATIVE
    assert seen.key == TEST_SECRETS[0] and CLIENT_KEY not in str(seen.headers)
    assert "Authorization" not in seen.headers
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["anthropic-beta"] == \
        "interleaved-thinking-2025-05-14,context-management-2025-06-27,from-config"


async def test_sdk_beta_messages_and_a_bare_model_name(client, fake_anthropic):
    message = await client.beta.messages.create(model=MODEL, max_tokens=100, messages=HELLO,
                                                betas=["token-efficient-tools-2025-02-19"])
    assert message.content[0].text == "Hi! My name is Claude." and message.model == "claude-3-7-sonnet-20250219"
    (seen,) = fake_anthropic.calls
    assert seen.body["model"] == MODEL  # a bare name goes to the anthropic provider as it is
    assert seen.headers["anthropic-beta"] == "token-efficient-tools-2025-02-19,from-config"


@pytest.mark.parametrize("events", [STREAM, TOOLS_STREAM, THINKING_STREAM], ids=["text", "tool_use", "thinking"])
async def test_streams_are_relayed_byte_for_byte(base, http, fake_anthropic, events):
    body = {**NATIVE, "stream": True}
    fake_anthropic.queue(MODEL, Reply(events=events))
    status, headers, raw = await post(http, base, body)
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    assert raw == b"".join(events)
    assert fake_anthropic.calls[0].body == body


async def test_sdk_stream_keeps_thinking_signatures(client, fake_anthropic):
    # the docs' sample leaves out the usage, which the API always sends and the SDK reads
    events = [e.replace(b'"stop_sequence": null}}', b'"stop_sequence": null, "usage": {"input_tokens": 9}}}')
              if b"event: message_start" in e else
              e.replace(b'"stop_sequence": null}}', b'"stop_sequence": null}, "usage": {"output_tokens": 91}}')
              for e in THINKING_STREAM]
    fake_anthropic.queue(MODEL, Reply(events=events))
    async with client.messages.stream(model=MODEL, max_tokens=4000, messages=HELLO,
                                      thinking={"type": "enabled", "budget_tokens": 2000}) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].signature.startswith("EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxB")
    assert final.usage.output_tokens == 91
    assert fake_anthropic.calls[0].body["thinking"] == {"type": "enabled", "budget_tokens": 2000}


async def test_usage_of_a_passed_through_stream_is_counted(base, http, caplog):
    status, _, _ = await post(http, base, {"model": MODEL, "max_tokens": 100, "messages": HELLO, "stream": True})
    assert status == 200
    (line,) = [r for r in caplog.records if r.name == "bifrost_proxy.access"]
    entry = orjson.loads(line.getMessage())
    assert (entry["route"], entry["provider"], entry["tokens_in"], entry["tokens_out"]) == (
        "/anthropic/v1/messages", "anthropic", 25, 15)


async def test_mid_stream_error_event_ends_the_stream_in_anthropics_shape(client, base, http, fake_anthropic):
    fake_anthropic.queue(MODEL, Reply(events=OVERLOADED_STREAM))
    status, _, raw = await post(http, base, {**NATIVE, "stream": True})
    assert status == 200
    assert event_types(raw) == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert raw.endswith(b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
                        b'"message":"Overloaded"}}\n\n')
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        async with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
            async for _ in stream:
                pass


async def test_a_stream_cut_short_ends_with_an_error_event(base, http, fake_anthropic):
    fake_anthropic.queue(MODEL, Reply(stop_after=4))
    status, _, raw = await post(http, base, {**NATIVE, "stream": True})
    types = event_types(raw)
    assert status == 200 and types[-1] == "error" and "message_stop" not in types
    assert b"the upstream closed the stream before message_stop" in raw


@pytest.mark.parametrize("status, etype, sdk_error", [
    (529, "overloaded_error", anthropic.APIStatusError),
    (400, "invalid_request_error", anthropic.BadRequestError),
    (404, "not_found_error", anthropic.NotFoundError),
    (429, "rate_limit_error", anthropic.RateLimitError),
])
async def test_upstream_errors_keep_their_status_type_and_message(client, fake_anthropic, status, etype, sdk_error):
    fake_anthropic.queue(MODEL, Reply(status=status, error_type=etype, error_message=f"upstream says {etype}"))
    with pytest.raises(sdk_error) as info:
        await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert info.value.status_code == status
    assert info.value.body == {"type": "error", "error": {"type": etype, "message": f"upstream says {etype}"}}


async def test_retries_apply_to_passthrough(gateway, fake_anthropic):
    base = await gateway(anthropic_config(fake_anthropic.base_url, max_retries=1, retry_backoff_initial=1))
    fake_anthropic.queue(MODEL, Reply(status=529, error_type="overloaded_error"), Reply())
    async with anthropic.AsyncAnthropic(base_url=f"{base}/anthropic", api_key=CLIENT_KEY, max_retries=0) as client:
        message = await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert message.content[0].text == "Hi! My name is Claude." and len(fake_anthropic.calls) == 2


async def test_fallback_from_passthrough_to_a_translated_provider(gateway, fake_anthropic, fake_openai, http):
    config = anthropic_config(fake_anthropic.base_url)
    config["providers"].update(openai_config(fake_openai.base_url)["providers"])
    base = await gateway(config)
    fake_anthropic.queue(MODEL, Reply(status=529, error_type="overloaded_error"))
    body = {"model": MODEL, "max_tokens": 10, "messages": HELLO, "stream": True,
            "fallbacks": ["openai/gpt-4o-mini"]}
    status, headers, raw = await post(http, base, body)
    assert status == 200 and headers["x-bifrost-provider"] == "openai"
    assert event_types(raw)[0] == "message_start" and event_types(raw)[-1] == "message_stop"
    assert "fallbacks" not in fake_anthropic.calls[0].body and "fallbacks" not in fake_openai.calls[0].body
    # what only Anthropic can do is never offered to the translated fallback: the primary's error stands
    body = {**NATIVE, "fallbacks": ["openai/gpt-4o-mini"]}
    status, _, raw = await post(http, base, body)
    assert status == 529 and orjson.loads(raw)["error"]["type"] == "overloaded_error"
    assert len(fake_openai.calls) == 1


async def test_count_tokens_goes_to_the_provider(client, fake_anthropic):
    count = await client.messages.count_tokens(model=MODEL, messages=HELLO, system="Be brief.")
    assert count.input_tokens == 14
    (seen,) = fake_anthropic.calls
    assert seen.path == "/v1/messages/count_tokens" and seen.key == TEST_SECRETS[0]
    assert seen.body == {"model": MODEL, "messages": HELLO, "system": "Be brief."}


async def test_count_tokens_errors_in_anthropics_shape(base, gateway, http, fake_anthropic):
    status, _, raw = await post(http, base, {"model": MODEL}, "/anthropic/v1/messages/count_tokens")
    assert status == 400 and "messages" in orjson.loads(raw)["error"]["message"]
    assert fake_anthropic.calls == []
    config = anthropic_config(fake_anthropic.base_url)
    config["providers"]["anthropic"]["keys"][0]["value"] = TEST_SECRETS[1]  # a key the upstream refuses
    refused = await gateway(config)
    status, _, raw = await post(http, refused, {"model": MODEL, "messages": HELLO},
                                "/anthropic/v1/messages/count_tokens")
    error = orjson.loads(raw)["error"]
    assert status == 401 and error["type"] == "authentication_error" and "invalid x-api-key" in error["message"]
