"""The ``governance:`` and ``pricing:`` blocks: this gateway's shape, Bifrost's config.json shape, and errors
that name the field and never a value."""
from __future__ import annotations

import pytest

from bifrost_proxy.config.load import ConfigError, parse_config
from bifrost_proxy.governance.keys import hash_value
from bifrost_proxy.governance.store.base import Budget, ProviderAccess, RateLimit

VALUE_A, VALUE_B = "vk-unit-value-aaaaaaaaaaaa", "vk-unit-value-bbbbbbbbbbbb"
PROVIDERS = {"openai": {"keys": [{"name": "k", "value": "sk-provider-unit-1"}]}}

# Bifrost's own config.json governance block (docs.getbifrost.ai, "config.json: Governance"): keys reference
# rate limits by id and budgets name their key; auth_config is its dashboard login; teams are not served here
BIFROST_CONFIG = {
    "client": {"enforce_auth_on_inference": True, "drop_excess_requests": False},
    "providers": PROVIDERS,
    "governance": {
        "budgets": [{"id": "budget-a", "max_limit": 50, "reset_duration": "1M", "virtual_key_id": "vk-a"}],
        "rate_limits": [{"id": "rl-std", "request_max_limit": 60, "request_reset_duration": "1m",
                         "token_max_limit": 100000, "token_reset_duration": "1h"}],
        "teams": [{"id": "team-1", "name": "Platform"}],
        "virtual_keys": [
            {"id": "vk-a", "name": "platform-team", "value": "env.VK_A", "is_active": True, "rate_limit_id": "rl-std",
             "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o", "gpt-4o-mini"],
                                   "key_ids": ["*"], "weight": 1}]},
            {"id": "vk-b", "name": "retired", "value": "env.VK_B", "is_active": False, "team_id": "team-1"},
        ],
        "auth_config": {"is_enabled": True, "admin_username": "admin", "admin_password": "env.ADMIN_PW"},
    },
}


def parse(data, **env):
    return parse_config(data, "conf.json", {"VK_A": VALUE_A, "VK_B": VALUE_B, "ADMIN_PW": "admin-pw-long-enough-1",
                                            **env})


def test_bifrost_config_json_loads_as_it_is():
    config = parse(BIFROST_CONFIG)
    gov = config.governance
    assert gov.enabled and gov.store == "sqlite" and gov.admin_key == "admin-pw-long-enough-1"
    first, second = gov.virtual_keys
    assert (first.name, first.id, first.value_hash, first.source) == ("platform-team", "vk-a", hash_value(VALUE_A),
                                                                      "config")
    assert first.provider_configs == (ProviderAccess("openai", ("gpt-4o", "gpt-4o-mini")),)
    assert first.rate_limit == RateLimit(60, "1m", 100000, "1h")
    assert first.budget == Budget(50.0, "1M")
    assert not second.is_active and second.budget is None
    assert "governance.teams: not served by this gateway, ignored" in config.warnings
    assert VALUE_A in gov.secrets and "admin-pw-long-enough-1" in gov.secrets


def test_our_own_shape_and_pricing():
    config = parse({"providers": PROVIDERS, "pricing": {"openai/gpt-4o-mini": {"input": 0.15, "output": 0.6},
                                                        "local/*": {"input": 0}},
                    "governance": {"enabled": True, "store": "redis://:s3cret-pass@10.0.0.5:6379/2",
                                   "admin_key": "env.ADMIN_PW", "virtual_keys": [{
                                       "name": "team-a", "value": "env.VK_A",
                                       "rate_limit": {"request_max_limit": 5, "request_reset_duration": "30s"},
                                       "budget": {"max_limit": 0.5, "reset_duration": "1d"}}]}})
    assert config.pricing == {"openai/gpt-4o-mini": (0.15, 0.6), "local/*": (0.0, 0.0)}
    key = config.governance.virtual_keys[0]
    assert key.rate_limit == RateLimit(request_max_limit=5, request_reset_duration="30s") and key.id == "team-a"
    assert "s3cret-pass" in config.governance.secrets  # the Redis password is masked in logs too


@pytest.mark.parametrize("governance, client, enabled", [
    ({}, {}, False),
    ({}, {"enforce_governance_header": True}, True),
    ({"enabled": False}, {"enforce_auth_on_inference": True}, False),  # ours, when given, wins
    ({"auth_config": {"disable_auth_on_inference": True}}, {"enforce_auth_on_inference": True}, False),
])
def test_what_turns_enforcement_on(governance, client, enabled):
    config = parse({"providers": PROVIDERS, "client": client, "governance": {"store": "memory", **governance}})
    assert config.governance.enabled is enabled


def test_governance_is_off_and_inactive_by_default():
    config = parse({"providers": PROVIDERS})
    assert not config.governance.enabled and not config.governance.active


def problems(data, **env) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(data, **env)
    return caught.value.problems


def test_errors_name_the_field_path():
    found = problems({"providers": PROVIDERS, "governance": {
        "store": "postgres://db", "rate_limits": [{"id": "rl", "request_max_limit": 5}],
        "virtual_keys": [
            {"name": "a", "value": "env.VK_A", "rate_limit": {"token_max_limit": 10, "token_reset_duration": "1 hour"},
             "budget": {"max_limit": -1, "reset_duration": "1d"}},
            {"name": "a", "value": "env.VK_A", "rate_limit_id": "missing"},
            {"name": "c"},
            {"name": "d", "value": "env.NOT_SET"},
            {"name": "e", "value": "literal-value-eeeeeeeeee", "provider_configs": [{"provider": "openai",
                                                                                     "budget": {"max_limit": 1}}]},
        ]}, "pricing": {"gpt-4o": {"input": 1}, "openai/x": {"input": -2, "currency": "EUR"}}})
    expected = [
        "governance.store: unknown store 'postgres'; use sqlite, sqlite:///PATH, redis://HOST:PORT/DB or memory",
        "governance.rate_limits[0].request_reset_duration: required with request_max_limit",
        "governance.virtual_keys[0].rate_limit.token_reset_duration: '1 hour' is not a duration",
        "governance.virtual_keys[0].budget.max_limit: must be a number of USD > 0",
        "governance.virtual_keys[1].name: duplicate virtual key name 'a'",
        "governance.virtual_keys[1].value: the same value as virtual_keys[0]",
        "governance.virtual_keys[1].rate_limit_id: no governance.rate_limits entry has id 'missing'",
        "governance.virtual_keys[2].value: required",
        "governance.virtual_keys[3].value: environment variable NOT_SET is not set",
        "governance.virtual_keys[4].provider_configs[0].budget: not supported",
        "pricing.gpt-4o: must be named 'provider/model'",
        "pricing.openai/x.currency: unknown field",
        "pricing.openai/x.input: must be a number >= 0",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in found), (line, found)
    assert VALUE_A not in "\n".join(found)


def test_short_values_are_accepted_with_a_warning_that_never_shows_them():
    config = parse({"providers": PROVIDERS, "governance": {"store": "memory", "admin_key": "zq9x",
                                                           "virtual_keys": [{"name": "x", "value": "abc123"}]}})
    warnings = "\n".join(config.warnings)
    assert "virtual_keys[0].value: shorter than 16" in warnings and "admin_key: shorter than 16" in warnings
    assert "abc123" not in warnings and "zq9x" not in warnings


@pytest.mark.parametrize("spec", ["sqlite", "sqlite:///state/g.db", "sqlite:////var/lib/g.db", "memory",
                                  "redis://localhost:6379/0", "rediss://user:pw@host:6380/1"])
def test_store_specs(spec):
    assert parse({"providers": PROVIDERS, "governance": {"store": spec}}).governance.store == spec
