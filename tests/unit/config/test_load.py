"""Config validation: every problem named by its field path, never a key's value."""
from __future__ import annotations

import pytest

from bifrost_proxy.config.load import ConfigError, load_config, load_default_config, parse_config


def problems(data, env=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "conf.yaml", env or {})
    return info.value.lines()


def test_minimal_config_gets_defaults():
    config = parse_config({"providers": {"openai": {"keys": [{"value": "sk-x"}]}}}, env={})
    openai = config.providers["openai"]
    assert openai.type == "openai" and openai.network.base_url == "https://api.openai.com"
    assert openai.keys[0].name == "key-0" and openai.keys[0].models == ("*",)
    assert openai.network.default_request_timeout == 30 and openai.network.stream_idle_timeout == 60
    assert config.server.port == 8080 and config.client.max_request_body_size_mb == 100


def test_env_references_are_resolved_and_unset_ones_named():
    config = parse_config({"providers": {"openai": {"keys": [{"value": "env.MY_KEY"}]}}}, env={"MY_KEY": "sk-1"})
    assert config.providers["openai"].keys[0].value == "sk-1"
    assert problems({"providers": {"openai": {"keys": [{"value": "env.MISSING"}]}}}) == [
        "conf.yaml: providers.openai.keys[0].value: environment variable MISSING is not set"]


@pytest.mark.parametrize("data, expected", [
    ({"providers": {"openai": {"keys": [{"value": "sk-secret-123", "weight": 0}]}}},
     "providers.openai.keys[0].weight: must be a number > 0"),
    ({"providers": {"openai": {"keys": []}}}, "providers.openai.keys: must be a non-empty list of keys"),
    ({"providers": {"openai": {}}}, "providers.openai.keys: at least one key is required"),
    ({"providers": {"mine": {"network_config": {"base_url": "http://x"}}}}, "providers.mine.type: required"),
    ({"providers": {"mine": {"type": "soap"}}}, "providers.mine.type: unknown wire type 'soap'"),
    ({"server": {"port": 70000}}, "server.port: must be between 0 and 65535"),
    ({"client": {"drop_excess_requests": "yes"}}, "client.drop_excess_requests: must be true or false"),
    ({"providers": {"ollama": {"network_config": {"max_retries": -1}}}},
     "providers.ollama.network_config.max_retries: must be an integer >= 0"),
    ({"providers": {"ollama": {"fallbacks": {"llama3": ["nope/x"]}}}}, "providers.ollama.fallbacks.llama3[0]"),
    ({"providers": {"ollama": {"concurrency_and_buffer_size": {"concurrency": 0}}}},
     "providers.ollama.concurrency_and_buffer_size.concurrency: must be an integer > 0"),
])
def test_problems_name_the_field(data, expected):
    lines = problems(data)
    assert any(expected in line for line in lines), lines
    assert all(line.startswith("conf.yaml: ") for line in lines)
    assert not any("sk-secret-123" in line for line in lines)


def test_all_problems_reported_at_once():
    lines = problems({"server": {"port": "x"}, "providers": {"openai": {"keys": [{"weight": -1}]}}})
    assert len(lines) == 2


def test_bifrost_config_json_is_accepted(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"client": {"drop_excess_requests": true, "initial_pool_size": 300},'
                    ' "providers": {"openai": {"keys": [{"value": "env.OPENAI_API_KEY", "models": ["gpt-4o-mini"],'
                    ' "weight": 1.0}], "network_config": {"default_request_timeout_in_seconds": 20}}}}')
    config = load_config(path, env={"OPENAI_API_KEY": "sk-json"})
    assert config.client.drop_excess_requests is True
    assert config.providers["openai"].keys[0].models == ("gpt-4o-mini",)
    assert any("initial_pool_size" in w for w in config.warnings)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("providers:\n  openai: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.lines()[0].startswith(f"{path}: line ")


def test_default_config_has_each_provider_whose_key_is_set_and_ollama():
    config = load_default_config({"OPENAI_API_KEY": "sk-a", "ANTHROPIC_API_KEY": ""})
    assert set(config.providers) == {"openai", "ollama"}


def test_key_repr_hides_the_value():
    config = parse_config({"providers": {"openai": {"keys": [{"name": "main", "value": "sk-hidden-value"}]}}}, env={})
    assert "sk-hidden-value" not in repr(config)


def test_optional_keys_disable_a_provider_and_say_why():
    config = parse_config({"providers": {"openai": {"keys": [{"value": "env.OPENAI_API_KEY", "optional": True}]},
                                         "ollama": {}}}, env={})
    assert set(config.providers) == {"ollama"}
    assert "OPENAI_API_KEY is not set" in config.disabled["openai"]
    assert any("providers.openai: disabled until OPENAI_API_KEY is set" in w for w in config.warnings)
    kept = parse_config({"providers": {"openai": {"keys": [
        {"name": "a", "value": "env.A_KEY", "optional": True}, {"name": "b", "value": "sk-b"}]}}}, env={})
    assert [k.name for k in kept.providers["openai"].keys] == ["b"]
