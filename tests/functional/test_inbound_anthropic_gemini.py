"""The Anthropic Messages API in front of the gemini wire type: the anthropic SDK against the gateway and the
fake Gemini API, translated Anthropic -> OpenAI chat -> Gemini and back (issue 13)."""
from __future__ import annotations

import anthropic
import pytest

from tests.conftest import TEST_SECRETS
from tests.fakes.gemini import FakeGoogle, Reply

MODEL = "gemini/gemini-2.5-flash"
POEM = ("Two cats, Mittens and Whiskers — the “Adventure Buddies” (冒险伙伴),\n"
        "nap in the sun 🐈☀️ and dream of mice.")
HELLO = [{"role": "user", "content": "A poem about two cats"}]
WEATHER = {"name": "get_weather", "description": "Current weather",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture
async def fake(serve_app) -> FakeGoogle:
    fake = FakeGoogle(api_keys=(TEST_SECRETS[0],))
    fake.base_url = await serve_app(fake.app)
    return fake


@pytest.fixture
async def client(gateway, fake):
    base = await gateway({"providers": {"gemini": {"keys": [{"name": "key0", "value": TEST_SECRETS[0]}],
                                                   "network_config": {"base_url": fake.base_url}}}})
    async with anthropic.AsyncAnthropic(base_url=f"{base}/anthropic", api_key="sk-ant-client", max_retries=0) as c:
        yield c


async def test_create_with_thinking_text_and_usage(client, fake):
    message = await client.messages.create(model=MODEL, max_tokens=200, system="Be brief.", messages=HELLO)
    assert message.model == "gemini-2.5-flash"
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking.startswith("**Counting the cats**")
    assert message.content[1].text == POEM and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (7, 4)
    assert message.usage.output_tokens == 67
    (seen,) = fake.calls
    assert seen.method == "generateContent" and seen.headers["x-goog-api-key"] == TEST_SECRETS[0]
    assert seen.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


async def test_stream_in_anthropics_event_order(client):
    async with client.messages.stream(model=MODEL, max_tokens=200, messages=HELLO) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_message()
    kinds = [e.type for e in events if e.type.startswith(("message_", "content_block_"))]
    starts = [e.content_block.type for e in events if e.type == "content_block_start"]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert starts == ["thinking", "text"] and final.content[1].text == POEM
    assert final.usage.output_tokens == 67


async def test_tool_use_round_trip_keeps_geminis_thought_signature(client, fake):
    async with client.messages.stream(model=MODEL, max_tokens=200, messages=HELLO, tools=[WEATHER]) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    calls = [b for b in final.content if b.type == "tool_use"]
    assert [(c.name, c.input) for c in calls] == [("get_weather", {"city": "Zürich", "unit": "celsius"}),
                                                  ("get_time", {"timezone": "Europe/Zurich"})]
    assert calls[0].id != calls[1].id
    follow_up = [*HELLO, {"role": "assistant", "content": [b.model_dump() for b in final.content]},
                 {"role": "user", "content": [
                     {"type": "tool_result", "tool_use_id": calls[0].id, "content": '{"temp_c": 21}'},
                     {"type": "tool_result", "tool_use_id": calls[1].id, "content": [{"type": "text",
                                                                                      "text": "14:05"}]}]}]
    await client.messages.create(model=MODEL, max_tokens=200, messages=follow_up, tools=[WEATHER])
    contents = fake.calls[1].body["contents"]
    assert contents[1]["role"] == "model"
    assert contents[1]["parts"][0]["thoughtSignature"] == "CiQB0e2Kb3Jk1ZxYq0p9mE1T0c2lnbmF0dXJlLWV4YW1wbGU="
    assert contents[2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
        {"functionResponse": {"name": "get_time", "response": {"result": "14:05"}}}]}


async def test_gemini_errors_come_in_anthropics_shape(client, fake):
    fake.queue("gemini-2.5-flash", Reply(status=429, error_status="RESOURCE_EXHAUSTED", error_message="quota"))
    with pytest.raises(anthropic.RateLimitError) as info:
        await client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert info.value.body["error"] == {"type": "rate_limit_error", "message": "quota"}


async def test_a_gemini_stream_cut_mid_way_is_one_error_event(client, fake):
    fake.queue("gemini-2.5-flash", Reply(reset_after=2))
    with pytest.raises(anthropic.APIStatusError, match="api_error"):
        async with client.messages.stream(model=MODEL, max_tokens=200, messages=HELLO) as stream:
            async for _ in stream:
                pass
