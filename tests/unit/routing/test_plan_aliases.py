"""model_aliases and bare names of inbound APIs: which PROVIDER/MODEL a requested name becomes."""
from __future__ import annotations

import pytest

from bifrost_proxy.config.load import ConfigError, parse_config
from bifrost_proxy.errors import BadRequest
from bifrost_proxy.routing.plan import plan, qualify
from bifrost_proxy.routing.runtime import Runtime


def runtime(aliases=None) -> Runtime:
    data = {"providers": {"openai": {"keys": [{"name": "k", "value": "sk-x"}]},
                          "anthropic": {"keys": [{"name": "k", "value": "sk-y"}]}}}
    if aliases is not None:
        data["model_aliases"] = aliases
    return Runtime.build(parse_config(data, "<test>", {}))


def test_alias_glob_routes_a_bare_name_anywhere():
    rt = runtime({"claude-sonnet-4-5*": "openai/gpt-4.1", "fast": "anthropic/claude-3-5-haiku-latest"})
    assert qualify(rt, "claude-sonnet-4-5-20250929", "anthropic") == "openai/gpt-4.1"
    assert qualify(rt, "fast", "openai") == "anthropic/claude-3-5-haiku-latest"


def test_bare_name_goes_to_the_inbound_apis_own_provider():
    rt = runtime()
    assert qualify(rt, "claude-opus-4-1", "anthropic") == "anthropic/claude-opus-4-1"
    assert qualify(rt, "openai/gpt-4o-mini", "anthropic") == "openai/gpt-4o-mini"
    # a slash that does not name a configured provider is part of the bare model name
    assert qualify(rt, "meta-llama/Llama-3-8b", "openai") == "openai/meta-llama/Llama-3-8b"


def test_openai_api_applies_aliases_but_still_needs_a_provider():
    rt = runtime({"fast": "anthropic/claude-3-5-haiku-latest"})
    [target] = plan(rt, {"model": "fast"})
    assert target.label == "anthropic/claude-3-5-haiku-latest"
    with pytest.raises(BadRequest) as info:
        plan(rt, {"model": "gpt-4o-mini"})
    assert info.value.code == "model_without_provider"


def test_bad_aliases_name_the_field():
    with pytest.raises(ConfigError) as info:
        parse_config({"providers": {}, "model_aliases": {"fast": "no-provider"}}, "<test>", {})
    assert any("model_aliases.fast" in line for line in info.value.lines())
    with pytest.raises(ConfigError):
        parse_config({"providers": {}, "model_aliases": ["x"]}, "<test>", {})


def test_a_catch_all_alias_maps_an_inbound_name_once():
    rt = runtime({"claude-*": "openai/gpt-4.1", "*": "anthropic/claude-3-5-haiku-latest"})
    name = qualify(rt, "claude-sonnet-4-5", "anthropic")
    [target] = plan(rt, {"model": name}, aliased=True)
    assert target.label == "openai/gpt-4.1"


def test_a_mistyped_prefix_is_named_when_the_apis_own_provider_is_absent():
    rt = Runtime.build(parse_config({"providers": {"openai": {"keys": [{"name": "k", "value": "sk-x"}]}}},
                                    "<test>", {}))
    assert qualify(rt, "opnai/gpt-4o", "anthropic") == "opnai/gpt-4o"
    assert qualify(rt, "meta-llama/Llama-3-8b", "openai") == "openai/meta-llama/Llama-3-8b"
