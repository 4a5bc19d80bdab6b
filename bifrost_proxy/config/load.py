"""Read a YAML (or JSON) config into a ``Config``, naming every problem by its field path.

Errors never show a key's value: a problem with a secret names the field and the variable, not the content.
"""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from bifrost_proxy.config.defaults import ALWAYS_ON, KNOWN_PROVIDERS, WIRE_TYPES, defaults_for
from bifrost_proxy.config.governance import CLIENT_FLAGS, read_governance, read_pricing
from bifrost_proxy.config.reader import Reader as _Reader, kind as _kind
from bifrost_proxy.config.schema import (
    ClientConfig,
    Config,
    KeyConfig,
    NetworkConfig,
    ProviderConfig,
    ServerConfig,
)

# Bifrost's config.json keeps provider-specific key settings under these names.
KEY_SETTINGS_FIELDS = ("azure_key_config", "vertex_key_config", "bedrock_key_config", "settings")
KNOWN_TOP = {"server", "client", "providers", "model_aliases", "governance", "pricing"}
KNOWN_PROVIDER_FIELDS = {"type", "keys", "network_config", "concurrency_and_buffer_size", "fallbacks", "options"}
KNOWN_KEY_FIELDS = {"name", "id", "value", "models", "weight", "aliases", "optional", *KEY_SETTINGS_FIELDS}


class ConfigError(Exception):
    """A config that does not validate. ``problems`` holds one line per problem: ``path: what is wrong``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.source}: {p}" for p in self.problems]




def parse_config(data: Any, source: str = "<config>", env: Mapping[str, str] | None = None) -> Config:
    """Validate parsed YAML/JSON data into a ``Config`` or raise ``ConfigError`` listing every problem."""
    r = _Reader(os.environ if env is None else env)
    root = r.mapping(data, "(top level)")
    r.unknown(root, KNOWN_TOP, "")
    server = _server(r, r.mapping(root.get("server"), "server"))
    client = _client(r, r.mapping(root.get("client"), "client"))
    providers: dict[str, ProviderConfig] = {}
    raw_providers = r.mapping(root.get("providers"), "providers")
    for name, pdata in raw_providers.items():
        provider = _provider(r, str(name), pdata)
        if provider is not None:
            providers[provider.name] = provider
    _check_fallbacks(r, providers)
    aliases = _model_aliases(r, root.get("model_aliases"))
    governance, pricing = read_governance(r, root), read_pricing(r, root)
    if r.problems:
        raise ConfigError(source, r.problems)
    return Config(providers=MappingProxyType(providers), server=server, client=client, source=source,
                  warnings=tuple(r.warnings), disabled=MappingProxyType(r.disabled), model_aliases=aliases,
                  governance=governance, pricing=MappingProxyType(pricing))


def _model_aliases(r: _Reader, value: Any) -> Mapping[str, str]:
    """``model_aliases``: requested-model glob -> ``PROVIDER/MODEL`` (Claude Code's names sent anywhere)."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        r.fail("model_aliases", f"must be a mapping of model globs to 'provider/model', not {_kind(value)}")
        return MappingProxyType({})
    aliases: dict[str, str] = {}
    for glob, target in value.items():
        path = f"model_aliases.{glob}"
        if not isinstance(glob, str) or not glob:
            r.fail("model_aliases", "every alias must be a non-empty string")
        elif not isinstance(target, str) or "/" not in target.strip("/"):
            r.fail(path, "must be a 'provider/model' string such as 'openai/gpt-4o-mini'")
        else:
            aliases[glob] = target
    return MappingProxyType(aliases)


def _server(r: _Reader, data: dict[str, Any]) -> ServerConfig:
    host = r.string(data, "host", "server", "0.0.0.0")
    port = int(r.number(data, "port", "server", 8080, integer=True))
    if not 0 <= port <= 65535:
        r.fail("server.port", "must be between 0 and 65535")
    grace = r.number(data, "shutdown_grace_seconds", "server", 30.0)
    proxies = r.string_list(data, "trusted_proxies", "server", ())
    for i, entry in enumerate(proxies):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            r.fail(f"server.trusted_proxies[{i}]", "not an IP address or CIDR")
    r.unknown(data, {"host", "port", "shutdown_grace_seconds", "trusted_proxies"}, "server")
    return ServerConfig(host=host, port=port, shutdown_grace_seconds=grace, trusted_proxies=proxies)


def _client(r: _Reader, data: dict[str, Any]) -> ClientConfig:
    size = r.number(data, "max_request_body_size_mb", "client", 100.0, strict=True)
    drop = r.boolean(data, "drop_excess_requests", "client", False)
    upload = r.number(data, "max_upload_size_mb", "client", 25.0, strict=True)
    per_host = int(r.number(data, "max_conns_per_host", "client", 0, integer=True))
    r.unknown(data, {"max_request_body_size_mb", "drop_excess_requests", "max_upload_size_mb",
                     "max_conns_per_host", *CLIENT_FLAGS}, "client")
    return ClientConfig(max_request_body_size_mb=size, drop_excess_requests=drop, max_upload_size_mb=upload,
                        max_conns_per_host=per_host)


def _provider(r: _Reader, name: str, pdata: Any) -> ProviderConfig | None:
    path = f"providers.{name}"
    if "/" in name or not name:
        r.fail(path, "a provider name must be non-empty and must not contain '/'")
    data = r.mapping(pdata, path)
    r.unknown(data, KNOWN_PROVIDER_FIELDS, path)
    known = KNOWN_PROVIDERS.get(name)
    wire_type = r.string(data, "type", path, known.type if known else "")
    if not wire_type:
        r.fail(f"{path}.type", f"required for a provider not named like a wire type ({', '.join(sorted(WIRE_TYPES))})")
        return None
    if wire_type not in WIRE_TYPES:
        r.fail(f"{path}.type", f"unknown wire type {wire_type!r}; one of {', '.join(sorted(WIRE_TYPES))}")
        return None
    defaults = defaults_for(name, wire_type)
    keys = _keys(r, data.get("keys"), path, defaults.needs_key)
    if not keys and isinstance(data.get("keys"), list) and data["keys"]:
        skipped = [w for w in r.warnings if w.startswith(f"{path}.keys[")]
        r.warnings[:] = [w for w in r.warnings if w not in skipped]
        unset = sorted({w.rsplit(": ", 1)[1].removesuffix(" is not set") for w in skipped})
        r.warnings.append(f"{path}: disabled until {', '.join(unset)} is set (its keys are optional)")
        r.disabled[name] = f"{', '.join(unset)} is not set in the gateway's environment"
        return None
    network = _network(r, r.mapping(data.get("network_config"), f"{path}.network_config"), path, defaults)
    cb = r.mapping(data.get("concurrency_and_buffer_size"), f"{path}.concurrency_and_buffer_size")
    cpath = f"{path}.concurrency_and_buffer_size"
    concurrency = int(r.number(cb, "concurrency", cpath, 1000, minimum=0, strict=True, integer=True))
    buffer_size = int(r.number(cb, "buffer_size", cpath, 5000, minimum=0, integer=True))
    fallbacks = _fallback_table(r, data.get("fallbacks"), f"{path}.fallbacks")
    options = r.resolve_tree(r.mapping(data.get("options"), f"{path}.options"), f"{path}.options")
    provider = ProviderConfig(name=name, type=wire_type, keys=keys, network=network, concurrency=concurrency,
                              buffer_size=buffer_size, fallbacks=fallbacks, options=options)
    from bifrost_proxy.providers import adapter_for  # late: providers import config, not the other way

    for problem in adapter_for(wire_type).validate(provider):
        r.problems.append(f"{path}.{problem}")
    return provider


def _keys(r: _Reader, value: Any, path: str, needs_key: bool) -> tuple[KeyConfig, ...]:
    if value is None:
        if needs_key:
            r.fail(f"{path}.keys", "at least one key is required for this provider")
        return (KeyConfig(name="default"),)
    if not isinstance(value, list) or not value:
        r.fail(f"{path}.keys", "must be a non-empty list of keys")
        return ()
    keys: list[KeyConfig] = []
    names: set[str] = set()
    for i, kdata in enumerate(value):
        kpath = f"{path}.keys[{i}]"
        if not isinstance(kdata, dict):
            r.fail(kpath, f"must be a mapping, not {_kind(kdata)}")
            continue
        r.unknown(kdata, KNOWN_KEY_FIELDS, kpath)
        name = r.string(kdata, "name", kpath, "") or r.string(kdata, "id", kpath, "") or f"key-{i}"
        if r.boolean(kdata, "optional", kpath, False) and _unset_env(r, kdata):
            # an optional key whose variable is unset is left out, so one example config fits every machine
            r.warnings.append(f"{kpath}: optional key {name!r} left out: {_unset_env(r, kdata)} is not set")
            continue
        if name in names:
            r.fail(f"{kpath}.name", f"duplicate key name {name!r}")
        names.add(name)
        secret = r.string(kdata, "value", kpath, "", secret=True)
        weight = r.number(kdata, "weight", kpath, 1.0, strict=True)
        models = r.string_list(kdata, "models", kpath, ("*",)) or ("*",)
        aliases = r.string_map(kdata, "aliases", kpath)
        settings: dict[str, Any] = {}
        for field_name in KEY_SETTINGS_FIELDS:
            if field_name in kdata:
                sub = r.mapping(kdata[field_name], f"{kpath}.{field_name}")
                settings.update(r.resolve_tree(sub, f"{kpath}.{field_name}"))
        if isinstance(settings.get("deployments"), Mapping):  # Azure: model -> deployment name
            aliases = MappingProxyType({**settings["deployments"], **aliases})
        keys.append(KeyConfig(name=name, value=secret, models=models, weight=weight, aliases=aliases,
                              settings=MappingProxyType(settings)))
    return tuple(keys)


def _unset_env(r: _Reader, kdata: dict[str, Any]) -> str | None:
    """The first ``env.NAME`` a key refers to whose variable is unset or empty."""
    refs = [kdata.get("value")]
    for field_name in KEY_SETTINGS_FIELDS:
        if isinstance(kdata.get(field_name), dict):
            refs.extend(kdata[field_name].values())
    for ref in refs:
        if isinstance(ref, str) and ref.startswith("env.") and not r.env.get(ref[4:]):
            return ref[4:]
    return None


def _network(r: _Reader, data: dict[str, Any], ppath: str, defaults: Any) -> NetworkConfig:
    path = f"{ppath}.network_config"
    r.unknown(data, {"base_url", "default_request_timeout_in_seconds", "stream_idle_timeout_in_seconds",
                     "stream_max_duration_in_seconds", "stream_keepalive_interval_in_seconds", "max_retries",
                     "retry_backoff_initial", "retry_backoff_max", "extra_headers"}, path)
    base_url = r.string(data, "base_url", path, defaults.base_url).rstrip("/")
    if base_url and not base_url.startswith(("http://", "https://")):
        r.fail(f"{path}.base_url", "must start with http:// or https://")
    initial = r.number(data, "retry_backoff_initial", path, 500.0)
    maximum = r.number(data, "retry_backoff_max", path, 5000.0)
    if maximum < initial:
        r.fail(f"{path}.retry_backoff_max", "must be >= retry_backoff_initial")
    return NetworkConfig(
        base_url=base_url,
        default_request_timeout=r.number(data, "default_request_timeout_in_seconds", path, 30.0, strict=True),
        stream_idle_timeout=r.number(data, "stream_idle_timeout_in_seconds", path, 60.0, strict=True),
        stream_max_duration=r.number(data, "stream_max_duration_in_seconds", path, 0.0),
        keepalive_interval=r.number(data, "stream_keepalive_interval_in_seconds", path, 15.0),
        max_retries=int(r.number(data, "max_retries", path, 0, integer=True)),
        retry_backoff_initial_ms=initial,
        retry_backoff_max_ms=maximum,
        extra_headers=r.string_map(data, "extra_headers", path),
    )


def _fallback_table(r: _Reader, value: Any, path: str) -> Mapping[str, tuple[str, ...]]:
    data = r.mapping(value, path)
    table: dict[str, tuple[str, ...]] = {}
    for model, targets in data.items():
        table[str(model)] = r.string_list(data, model, path, ())
    return MappingProxyType(table)


def _check_fallbacks(r: _Reader, providers: dict[str, ProviderConfig]) -> None:
    for provider in providers.values():
        for model, targets in provider.fallbacks.items():
            for i, target in enumerate(targets):
                prefix = target.partition("/")[0]
                if "/" not in target or prefix not in providers:
                    r.fail(f"providers.{provider.name}.fallbacks.{model}[{i}]",
                           f"{target!r} must be 'provider/model' with a configured provider")


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the file at ``path`` (YAML, or JSON, which is YAML)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError(source, ["the file is not UTF-8 text"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(unknown position)"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(source, [f"{where}: {problem}"]) from None
    if data is None:
        data = {}
    return parse_config(data, source, env)


def load_default_config(env: Mapping[str, str] | None = None) -> Config:
    """The built-in table: each known provider whose key variable is set, plus a local ollama."""
    env = os.environ if env is None else env
    providers: dict[str, Any] = {}
    for name, d in KNOWN_PROVIDERS.items():
        if name in ALWAYS_ON:
            providers[name] = {}
        elif d.env_key and env.get(d.env_key) and d.base_url:
            providers[name] = {"keys": [{"name": d.env_key.lower(), "value": f"env.{d.env_key}"}]}
    return parse_config({"providers": providers}, "<built-in defaults>", env)
