"""Prices: the built-in table under the names each provider's API takes, and ``pricing:`` on top of it."""
from __future__ import annotations

import pytest

from bifrost_proxy.governance.pricing import Price, PriceTable


@pytest.mark.parametrize("provider, model, price", [
    ("openai", "gpt-4o-mini", (0.15, 0.60)),
    ("openai", "gpt-4o-mini-2024-07-18", (0.15, 0.60)),  # dated snapshots find their base model
    ("openai", "gpt-4o", (2.50, 10.00)),
    ("openai", "gpt-4-0613", (30.00, 60.00)),
    ("azure", "gpt-4o", (2.50, 10.00)),
    ("anthropic", "claude-3-5-haiku-latest", (0.80, 4.00)),
    ("anthropic", "claude-sonnet-4-5-20250929", (3.00, 15.00)),
    ("gemini", "gemini-2.0-flash-001", (0.10, 0.40)),
    ("gemini", "models/gemini-2.5-flash", (0.30, 2.50)),
    ("vertex", "claude-3-5-sonnet-v2@20241022", (3.00, 15.00)),
    ("bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0", (0.80, 4.00)),
    ("cohere", "command-r-08-2024", (0.15, 0.60)),
    ("mistral", "mistral-large-latest", (2.00, 6.00)),
])
def test_builtin_prices(provider, model, price):
    assert PriceTable({}).price(provider, model) == Price(*price)


@pytest.mark.parametrize("provider, model", [
    ("openai", "my-finetune"), ("openai", "whisper-1"), ("openai", "tts-1"),
    ("local-vllm", "gpt-4o-mini"),  # a custom provider may be anything: no built-in price
    ("ollama", "llama3"),
])
def test_unpriced_models(provider, model):
    assert PriceTable({}).price(provider, model) is None


def test_pricing_overrides_and_extends_the_table_exact_names_before_globs():
    table = PriceTable({"openai/gpt-4o-*": (9.0, 9.0), "openai/gpt-4o-mini": (1.0, 2.0), "local-vllm/*": (0.0, 0.0)})
    assert table.price("openai", "gpt-4o-mini") == Price(1.0, 2.0)
    assert table.price("openai", "gpt-4o-2024-08-06") == Price(9.0, 9.0)
    assert table.price("local-vllm", "qwen2.5") == Price(0.0, 0.0)
    assert table.price("openai", "gpt-4.1") == Price(2.0, 8.0)  # untouched built-in entries stay


def test_cost_is_per_million_tokens():
    assert Price(2.0, 8.0).cost(1_000_000, 500_000) == pytest.approx(6.0)
    assert Price(0.15, 0.60).cost(12, 9) == pytest.approx(7.2e-6)


def test_answers_are_remembered_but_never_grow_without_bound():
    table = PriceTable({})
    for i in range(5000):
        table.price("openai", f"client-chosen-{i}")
    assert len(table._cache) <= 4096
