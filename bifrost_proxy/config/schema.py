"""The validated configuration: frozen dataclasses built once by ``load.py`` and never mutated.

A reload builds a whole new ``Config``; requests in flight keep the one they started with.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from bifrost_proxy.governance.store.base import VirtualKeyRecord

EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class KeyConfig:
    """One credential of a provider. ``value`` and ``settings`` never appear in a repr, a log or an error."""

    name: str
    value: str = field(default="", repr=False)
    models: tuple[str, ...] = ("*",)
    weight: float = 1.0
    # requested model name -> name sent upstream (Bifrost's "aliases"; Azure's deployments use it too)
    aliases: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    # provider-specific settings (azure_key_config, vertex_key_config, bedrock_key_config ...), env-resolved
    settings: Mapping[str, Any] = field(default_factory=lambda: EMPTY, repr=False)

    def admits(self, model: str) -> bool:
        return "*" in self.models or model in self.models or model in self.aliases


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    base_url: str
    default_request_timeout: float = 30.0
    stream_idle_timeout: float = 60.0
    stream_max_duration: float = 0.0
    keepalive_interval: float = 15.0
    max_retries: int = 0
    retry_backoff_initial_ms: float = 500.0
    retry_backoff_max_ms: float = 5000.0
    extra_headers: Mapping[str, str] = field(default_factory=lambda: EMPTY, repr=False)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One entry of the provider table. ``name`` is the model prefix; ``type`` picks the adapter."""

    name: str
    type: str
    keys: tuple[KeyConfig, ...]
    network: NetworkConfig
    concurrency: int = 1000
    buffer_size: int = 5000
    # upstream model -> ["provider/model", ...] tried when a request names no fallbacks of its own
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: EMPTY)
    # wire-type options (azure api_version, anthropic_version, vertex project/region, max upload size ...)
    options: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8080
    shutdown_grace_seconds: float = 30.0
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClientConfig:
    max_request_body_size_mb: float = 100.0
    drop_excess_requests: bool = False
    max_upload_size_mb: float = 25.0
    # connections the one upstream pool opens to any one host; 0 = no limit (the provider limiters bound work)
    max_conns_per_host: int = 0

    @property
    def max_request_body_bytes(self) -> int:
        return int(self.max_request_body_size_mb * 1024 * 1024)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_size_mb * 1024 * 1024)


@dataclass(frozen=True, slots=True)
class GovernanceConfig:
    """The ``governance:`` block (README "Teams and keys"). Declared keys are kept as records (value hashed);
    ``secrets`` holds their values and the admin key only so that logs can mask them."""

    enabled: bool = False  # every request to /v1, /anthropic, /genai needs a virtual key
    store: str = "sqlite"
    admin_key: str = field(default="", repr=False)
    virtual_keys: tuple[VirtualKeyRecord, ...] = ()
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def active(self) -> bool:
        """Whether the gateway opens the store: to enforce keys, or to let the admin API manage them."""
        return self.enabled or bool(self.admin_key)


@dataclass(frozen=True, slots=True)
class Config:
    providers: Mapping[str, ProviderConfig]
    server: ServerConfig = ServerConfig()
    client: ClientConfig = ClientConfig()
    source: str = "<defaults>"
    warnings: tuple[str, ...] = ()
    # providers left out because every key is optional and unset: name -> why, for a request that names one
    disabled: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    # requested model glob -> "provider/model", applied before routing, first match in config order
    model_aliases: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    governance: GovernanceConfig = GovernanceConfig()
    # "provider/model" (or a glob) -> (USD per 1M input tokens, per 1M output tokens); extends the built-in table
    pricing: Mapping[str, tuple[float, float]] = field(default_factory=lambda: EMPTY)
