"""What a config becomes at run time: per provider its adapter, key pool and limiter.

A reload builds a new ``Runtime`` and swaps it into the ``RuntimeHolder``; requests in flight keep the
one they started with, so nothing in flight is dropped or changes its mind.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from bifrost_proxy.config.schema import Config, ProviderConfig
from bifrost_proxy.providers import adapter_for
from bifrost_proxy.providers.base import Adapter
from bifrost_proxy.routing.keypool import KeyPool
from bifrost_proxy.routing.limiter import ProviderLimiter


@dataclass(slots=True)
class ProviderRuntime:
    config: ProviderConfig
    adapter: Adapter
    keys: KeyPool
    limiter: ProviderLimiter
    # adapter-owned caches that live as long as this config (e.g. Vertex access tokens)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Runtime:
    config: Config
    providers: Mapping[str, ProviderRuntime]

    @classmethod
    def build(cls, config: Config, previous: "Runtime | None" = None) -> "Runtime":
        providers = {}
        for name, pconf in config.providers.items():
            old = previous.providers.get(name) if previous else None
            if old is not None and old.config == pconf:
                providers[name] = old  # unchanged: keep its cooldowns and its queue
                old.limiter.drop_excess = config.client.drop_excess_requests
                continue
            providers[name] = ProviderRuntime(
                config=pconf,
                adapter=adapter_for(pconf.type),
                keys=KeyPool(pconf),
                limiter=ProviderLimiter(name, pconf.concurrency, pconf.buffer_size,
                                        config.client.drop_excess_requests),
            )
        return cls(config=config, providers=providers)


class RuntimeHolder:
    """The app's current ``Runtime``; ``swap`` is the only mutation and is atomic for the event loop."""

    __slots__ = ("current",)

    def __init__(self, runtime: Runtime) -> None:
        self.current = runtime

    def swap(self, config: Config) -> Runtime:
        self.current = Runtime.build(config, self.current)
        return self.current
