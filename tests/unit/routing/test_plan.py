"""Which targets a request gets: the primary, then the request's fallbacks or the provider's default list."""
from __future__ import annotations

import pytest

from bifrost_proxy.config.load import parse_config
from bifrost_proxy.errors import BadRequest, NotFound
from bifrost_proxy.routing.plan import MAX_FALLBACKS, plan
from bifrost_proxy.routing.runtime import Runtime

CONFIG = {"providers": {
    "openai": {"keys": [{"name": "k", "value": "v"}], "fallbacks": {"gpt-4o": ["groq/llama", "openai/gpt-4o-mini"]}},
    "groq": {"keys": [{"name": "g", "value": "w"}]},
}}


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return Runtime.build(parse_config(CONFIG, "<test>", {}))


def labels(targets) -> list[str]:
    return [t.label for t in targets]


def test_the_providers_default_list_applies_when_the_request_names_none(runtime):
    assert labels(plan(runtime, {"model": "openai/gpt-4o"})) == ["openai/gpt-4o", "groq/llama", "openai/gpt-4o-mini"]
    assert labels(plan(runtime, {"model": "openai/o1"})) == ["openai/o1"]


def test_the_requests_own_list_replaces_the_default_even_when_empty(runtime):
    assert labels(plan(runtime, {"model": "openai/gpt-4o", "fallbacks": ["groq/x/y"]})) == ["openai/gpt-4o", "groq/x/y"]
    assert labels(plan(runtime, {"model": "openai/gpt-4o", "fallbacks": []})) == ["openai/gpt-4o"]


@pytest.mark.parametrize("fallbacks, error, param", [
    ("groq/llama", BadRequest, "fallbacks"),
    ([1], BadRequest, "fallbacks"),
    (["groq"], BadRequest, "fallbacks[0]"),
    (["openai/a", "nope/b"], NotFound, "fallbacks[1]"),
    (["groq/m"] * (MAX_FALLBACKS + 1), BadRequest, "fallbacks"),
])
def test_bad_fallbacks_are_a_4xx_naming_the_field(runtime, fallbacks, error, param):
    with pytest.raises(error) as info:
        plan(runtime, {"model": "openai/gpt-4o", "fallbacks": fallbacks})
    assert info.value.param == param
