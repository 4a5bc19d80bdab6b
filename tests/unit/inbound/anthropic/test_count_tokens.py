"""The input-token estimate for providers that cannot count: it grows with the request, and never breaks."""
from __future__ import annotations

from bifrost_proxy.inbound.anthropic.count_tokens import IMAGE_TOKENS, estimate_input_tokens

HELLO = [{"role": "user", "content": "Hello there"}]


def test_text_is_about_four_characters_a_token():
    text = "x" * 4000
    count = estimate_input_tokens({"messages": [{"role": "user", "content": text}]})
    assert 1000 <= count <= 1020


def test_everything_the_model_reads_counts():
    base = estimate_input_tokens({"messages": HELLO})
    with_system = estimate_input_tokens({"messages": HELLO, "system": "You are helpful. " * 10})
    with_tools = estimate_input_tokens({"messages": HELLO, "tools": [
        {"name": "get_weather", "description": "Current weather in a city",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]})
    assert base < with_system and base < with_tools
    two_turns = estimate_input_tokens({"messages": HELLO + [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "t", "name": "f", "input": {"q": "weather"}}]}]})
    assert two_turns > base


def test_images_and_pdfs_count_whole_not_by_their_base64():
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 400_000}}
    count = estimate_input_tokens({"messages": [{"role": "user", "content": [image]}]})
    assert IMAGE_TOKENS <= count < IMAGE_TOKENS + 20
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "A" * 250_000}}
    assert estimate_input_tokens({"messages": [{"role": "user", "content": [pdf]}]}) > 3 * 2000


def test_a_hostile_nesting_is_counted_not_crashed_on():
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    assert estimate_input_tokens({"messages": [{"role": "user", "content": deep}]}) >= 1
