"""Where a request's key is read from, a key's model rules, and the order of its limits."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from bifrost_proxy.governance.keys import KeyEntry, hash_value, presented_key
from bifrost_proxy.governance.store.base import Budget, ProviderAccess, RateLimit, VirtualKeyRecord
from bifrost_proxy.governance.store import describe_store, store_secret
from bifrost_proxy.governance.windows import WindowClock


@pytest.mark.parametrize("headers, path, key", [
    ({"Authorization": "Bearer sk-a"}, "/v1/chat/completions", "sk-a"),
    ({"Authorization": "bearer   sk-a "}, "/v1/chat/completions", "sk-a"),
    ({"x-api-key": "sk-b"}, "/anthropic/v1/messages", "sk-b"),
    ({"x-goog-api-key": "sk-c"}, "/genai/v1beta/models/x:generateContent", "sk-c"),
    ({}, "/genai/v1beta/models/x:generateContent?alt=sse&key=sk-d", "sk-d"),
    ({"x-bf-vk": "sk-e", "Authorization": "Bearer sk-other"}, "/v1/models", "sk-e"),  # Bifrost's header first
    ({"Authorization": "Basic c2stYQ=="}, "/v1/models", None),
    ({"Authorization": "Bearer "}, "/v1/models", None),
    ({}, "/v1/models", None),
])
def test_presented_key(headers, path, key):
    assert presented_key(make_mocked_request("POST", path, headers=headers)) == key


def test_values_are_stored_as_sha256():
    assert hash_value("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def record(**fields) -> VirtualKeyRecord:
    return VirtualKeyRecord(name="k", value_hash="0" * 64, **fields)


def test_no_provider_configs_allows_everything():
    assert KeyEntry(record()).allows("anything", "any/model")


def test_model_globs_per_provider():
    entry = KeyEntry(record(provider_configs=(
        ProviderAccess("openai", ("gpt-4o*", "o3")), ProviderAccess("anthropic", ()),
        ProviderAccess("openai", ("gpt-4.1",)))))  # a provider listed twice: both lists count
    assert entry.allows("openai", "gpt-4o-mini") and entry.allows("openai", "o3") and entry.allows("openai", "gpt-4.1")
    assert not entry.allows("openai", "o3-mini") and not entry.allows("openai", "gpt-5")
    assert entry.allows("anthropic", "claude-anything")  # no globs: every model of that provider
    assert not entry.allows("gemini", "gemini-2.5-flash")  # not listed: not allowed


def test_limits_are_ordered_requests_tokens_cost_and_windows_are_reused():
    entry = KeyEntry(record(rate_limit=RateLimit(10, "1m", 1000, "1h"), budget=Budget(5.0, "1M")))
    clock = WindowClock()
    windows = entry.windows(clock, 1_700_000_010.0)
    assert [(w.metric, w.limit) for w in windows] == [("requests", 10.0), ("tokens", 1000.0), ("cost", 5.0)]
    assert entry.windows(clock, 1_700_000_020.0) is windows  # same minute: the same list
    assert entry.windows(clock, 1_700_000_100.0)[0].start == 1_700_000_100 - 1_700_000_100 % 60


def test_store_specs_are_logged_without_their_password():
    assert describe_store("redis://:hunter2@db:6379/0") == "redis://:***@db:6379/0"
    assert describe_store("redis://user:hunter2@db:6379/0") == "redis://user:***@db:6379/0"
    assert describe_store("redis://db:6379/0") == "redis://db:6379/0"
    assert store_secret("redis://user:hunter2@db/0") == "hunter2" and store_secret("sqlite") is None
