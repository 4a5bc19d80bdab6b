"""The official openai SDK, pointed at the gateway, works unchanged: chat, stream, tools, embeddings, models."""
from __future__ import annotations

import openai
import pytest

from tests.conftest import openai_config
from tests.fakes.openai import TOOLS_STREAM, Reply


@pytest.fixture
async def client(gateway, fake_openai):
    base = await gateway(openai_config(fake_openai.base_url))
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused-by-gateway", max_retries=0) as c:
        yield c


MESSAGES = [{"role": "user", "content": "Tell me a story"}]


async def test_sdk_non_stream(client):
    result = await client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert result.model == "gpt-4o-mini-2024-07-18"
    assert result.choices[0].message.content == "Once upon a time, in Zürich 🐉."
    assert result.usage.total_tokens == 21


async def test_sdk_stream_with_usage(client):
    stream = await client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES, stream=True,
                                                  stream_options={"include_usage": True})
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == "Once upon a time, in Zürich 🐉."
    assert usage is not None and usage.completion_tokens == 9


async def test_sdk_stream_tool_calls(client, fake_openai):
    fake_openai.queue("gpt-4o-mini", Reply(events=TOOLS_STREAM))
    stream = await client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES, stream=True,
                                                  tools=[{"type": "function", "function": {
                                                      "name": "get_weather", "parameters": {"type": "object"}}}])
    name, arguments, finish = "", "", None
    async for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or []:
            name += call.function.name or ""
            arguments += call.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert (name, arguments, finish) == ("get_weather", '{"location":"Paris"}', "tool_calls")


async def test_sdk_errors_raise_typed_exceptions(client, fake_openai):
    fake_openai.queue("gpt-4o-mini", Reply(status=429, error_message="slow down", error_type="rate_limit_error"))
    with pytest.raises(openai.RateLimitError, match="slow down"):
        await client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError, match="provider"):
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


async def test_sdk_embeddings_and_models(client):
    result = await client.embeddings.create(model="openai/text-embedding-3-small", input="hello")
    assert result.data[0].embedding == [0.1, 0.2]
    models = await client.models.list()
    ids = {m.id async for m in models}
    assert {"openai/gpt-4o-mini", "openai/gpt-4o"} <= ids


async def test_sdk_text_completions(client):
    result = await client.completions.create(model="openai/gpt-4o-mini", prompt="Once")
    assert result.model == "gpt-4o-mini-2024-07-18"
