"""Which provider/model pairs a request may be served by, in order: the primary, then its fallbacks."""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from bifrost_proxy.errors import BadRequest, NotFound
from bifrost_proxy.routing.runtime import ProviderRuntime, Runtime

MAX_FALLBACKS = 10


@dataclass(slots=True)
class Target:
    provider: ProviderRuntime
    model: str  # as requested, before any key alias

    @property
    def label(self) -> str:
        return f"{self.provider.config.name}/{self.model}"


def split_model(value: Any, param: str = "model") -> tuple[str, str]:
    """``"provider/model"`` split at the first "/"; the model part may hold more "/"."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{param}' must be a non-empty string like 'openai/gpt-4o-mini'", param=param)
    provider, slash, model = value.partition("/")
    if not slash or not provider or not model:
        raise BadRequest(f"'{param}' must name its provider, like 'openai/gpt-4o-mini' (got {value[:100]!r})",
                         param=param, code="model_without_provider")
    return provider, model


def alias(runtime: Runtime, value: Any) -> Any:
    """``value`` after ``model_aliases`` (the first glob that matches, in config order); else unchanged."""
    if isinstance(value, str):
        for glob, target in runtime.config.model_aliases.items():
            if fnmatchcase(value, glob):
                return target
    return value


def qualify(runtime: Runtime, value: Any, default_provider: str) -> Any:
    """An inbound API's model name as ``PROVIDER/MODEL``: aliased first; a name whose prefix is not a
    configured provider is a bare name of the inbound API's own provider (``claude-sonnet-4-5`` ->
    ``anthropic/claude-sonnet-4-5``)."""
    value = alias(runtime, value)
    if isinstance(value, str) and value:
        prefix, slash, _ = value.partition("/")
        if not slash:
            return f"{default_provider}/{value}"
        known = runtime.providers
        if prefix not in known and prefix not in runtime.config.disabled and default_provider in known:
            return f"{default_provider}/{value}"  # e.g. "meta-llama/Llama-3-8b" on the API's own provider
    return value  # "opnai/x" with no provider of the API's own: the 404 names "opnai", the real mistake


def resolve(runtime: Runtime, value: Any, param: str = "model", aliased: bool = False) -> Target:
    """The target ``value`` names; ``aliased``: ``model_aliases`` were applied already (``qualify``), so a
    catch-all glob does not map the result a second time."""
    if runtime.config.model_aliases and not aliased:
        value = alias(runtime, value)
    provider_name, model = split_model(value, param)
    provider = runtime.providers.get(provider_name)
    if provider is None:
        reason = runtime.config.disabled.get(provider_name)
        if reason is not None:
            raise NotFound(f"provider {provider_name!r} is disabled: {reason}", param=param,
                           code="provider_disabled")
        known = ", ".join(sorted(runtime.providers)) or "none"
        raise NotFound(f"unknown provider {provider_name[:100]!r} in '{param}'; configured providers: {known}",
                       param=param, code="unknown_provider")
    return Target(provider, model)


def plan(runtime: Runtime, body: dict[str, Any], aliased: bool = False) -> list[Target]:
    """The primary target and its fallbacks (the request's own list, else the provider's default list).
    ``aliased``: the primary's name came from ``qualify`` (an inbound API's endpoint)."""
    primary = resolve(runtime, body.get("model"), aliased=aliased)
    fallbacks = body.get("fallbacks")
    if fallbacks is None:
        fallbacks = list(primary.provider.config.fallbacks.get(primary.model, ()))
    elif not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks):
        raise BadRequest("'fallbacks' must be a list of 'provider/model' strings", param="fallbacks")
    if len(fallbacks) > MAX_FALLBACKS:
        raise BadRequest(f"'fallbacks' may name at most {MAX_FALLBACKS} models", param="fallbacks")
    return [primary] + [resolve(runtime, f, f"fallbacks[{i}]") for i, f in enumerate(fallbacks)]
