"""Wire types and their adapters. An adapter module exposes ``ADAPTER``; it is imported on first use."""
from __future__ import annotations

import importlib

from bifrost_proxy.providers.base import Adapter

ADAPTER_MODULES = {
    "openai": "bifrost_proxy.providers.openai",
    "anthropic": "bifrost_proxy.providers.anthropic",
    "gemini": "bifrost_proxy.providers.gemini",
    "vertex": "bifrost_proxy.providers.vertex",
    "bedrock": "bifrost_proxy.providers.bedrock",
    "cohere": "bifrost_proxy.providers.cohere",
    "elevenlabs": "bifrost_proxy.providers.elevenlabs",
}
_loaded: dict[str, Adapter] = {}


class _Unavailable:
    """A wire type whose adapter is not built yet: config validation says so instead of failing later."""

    def __init__(self, wire_type: str) -> None:
        self.wire_type = wire_type

    def validate(self, provider: object) -> list[str]:
        return [f"type: wire type {self.wire_type!r} is not supported by this version of bifrost_proxy"]


def adapter_for(wire_type: str) -> Adapter:
    adapter = _loaded.get(wire_type)
    if adapter is None:
        try:
            module = importlib.import_module(ADAPTER_MODULES[wire_type])
        except ModuleNotFoundError as exc:
            if exc.name != ADAPTER_MODULES.get(wire_type):
                raise
            return _Unavailable(wire_type)  # type: ignore[return-value]
        adapter = _loaded[wire_type] = module.ADAPTER
    return adapter
