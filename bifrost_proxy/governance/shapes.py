"""Bifrost's virtual-key object, read and written: the one reader for ``governance.virtual_keys`` entries in the
config and for admin API bodies, and the writer of the admin API's answers.

Reading collects every problem as ``path: what is wrong`` (the config names the field path, the admin API
answers 400 with it). Fields Bifrost has and we do not serve are ignored when ignoring them cannot widen
what a key may do (``weight``, ``description``, ``team_id`` ...); one that would (a per-provider budget,
``key_ids`` other than ``["*"]``, ``blacklisted_models``, ``expires_at``) is a problem, not a silent no-op.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from bifrost_proxy.governance.store.base import Budget, ProviderAccess, RateLimit, VirtualKeyRecord
from bifrost_proxy.governance.windows import parse_duration

MAX_NAME = 100
# Bifrost fields that say nothing about what a key may do, or that we show rather than take
IGNORED = frozenset({"id", "description", "calendar_aligned", "team_id", "customer_id", "access_profile_id",
                     "mcp_configs", "value", "source", "created_at", "updated_at", "config_hash",
                     "rate_limit_id", "budget_id", "team", "customer", "created_by_user_id", "reset_budget_usage"})
PROVIDER_IGNORED = frozenset({"id", "virtual_key_id", "weight", "allow_all_keys", "keys"})
LIMIT_IGNORED = frozenset({"id", "token_current_usage", "token_last_reset", "request_current_usage",
                           "request_last_reset", "config_hash", "created_at", "updated_at", "calendar_aligned"})
BUDGET_IGNORED = frozenset({"id", "current_usage", "last_reset", "config_hash", "created_at", "updated_at",
                            "calendar_aligned", "virtual_key_id"})
UNSET: Any = object()


@dataclass(slots=True)
class KeyFields:
    """What an object said about a key; ``UNSET`` for each field it did not name (a PUT changes only those)."""

    name: Any = UNSET
    is_active: Any = UNSET
    provider_configs: Any = UNSET
    rate_limit: Any = UNSET
    budget: Any = UNSET
    problems: list[str] = field(default_factory=list)

    def apply(self, record: VirtualKeyRecord, **changes: Any) -> VirtualKeyRecord:
        for name in ("is_active", "provider_configs", "rate_limit", "budget"):
            value = getattr(self, name)
            if value is not UNSET:
                changes[name] = value
        return replace(record, **changes)


def check_name(value: Any) -> str | None:
    """Why ``value`` is not a usable key name (it appears in URLs, logs and metrics), or None."""
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > MAX_NAME or "/" in value or not value.isprintable():
        return f"must be at most {MAX_NAME} printable characters without '/'"
    return None


def read_key(data: dict[str, Any], path: str = "") -> KeyFields:
    """The key fields ``data`` names, with its problems; ``path`` prefixes each problem (``""`` = top level)."""
    out = KeyFields()
    at = (lambda name: f"{path}.{name}") if path else (lambda name: name)
    for name in data:
        if name not in IGNORED and name not in ("name", "is_active", "provider_configs", "rate_limit", "budget",
                                                "budgets"):
            out.problems.append(f"{at(name)}: not supported" + (
                "; revoke the key (DELETE, or `bifrost-proxy keys revoke`) instead" if name == "expires_at" else ""))
    if "name" in data:
        problem = check_name(data["name"])
        if problem:
            out.problems.append(f"{at('name')}: {problem}")
        else:
            out.name = data["name"].strip()
    if "is_active" in data:
        if isinstance(data["is_active"], bool):
            out.is_active = data["is_active"]
        else:
            out.problems.append(f"{at('is_active')}: must be true or false")
    if "provider_configs" in data:
        out.provider_configs = _provider_configs(data["provider_configs"], at("provider_configs"), out.problems)
    if "rate_limit" in data:
        out.rate_limit = read_rate_limit(data["rate_limit"], at("rate_limit"), out.problems)
    budgets = data.get("budgets")
    if "budget" in data:
        out.budget = read_budget(data["budget"], at("budget"), out.problems)
    elif isinstance(budgets, list) and len(budgets) <= 1:  # Bifrost's newer list form
        out.budget = read_budget(budgets[0], f"{at('budgets')}[0]", out.problems) if budgets else None
    elif budgets is not None:
        out.problems.append(f"{at('budgets')}: at most one budget per key (a list of one, or `budget`)")
    return out


def _provider_configs(value: Any, path: str, problems: list[str]) -> tuple[ProviderAccess, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(f"{path}: must be a list of {{provider, allowed_models}}")
        return ()
    out = []
    for i, entry in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("provider"), str) or not entry["provider"]:
            problems.append(f"{where}: must be an object with a 'provider' name")
            continue
        for name in entry:
            if name in ("provider", "allowed_models") or name in PROVIDER_IGNORED:
                continue
            if name == "key_ids" and entry[name] in (None, ["*"]):
                continue
            if name == "blacklisted_models" and not entry[name]:
                continue
            problems.append(f"{where}.{name}: not supported (limits and budgets apply per key)")
        models = entry.get("allowed_models")
        if models is None:
            models = []
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            problems.append(f"{where}.allowed_models: must be a list of model names or globs")
            models = []
        out.append(ProviderAccess(entry["provider"], tuple(models)))
    return tuple(out)


def read_rate_limit(value: Any, path: str, problems: list[str]) -> RateLimit | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(f"{path}: must be an object")
        return None
    for name in value:
        if name not in LIMIT_IGNORED and name not in ("request_max_limit", "request_reset_duration",
                                                      "token_max_limit", "token_reset_duration"):
            problems.append(f"{path}.{name}: not a rate limit field")
    parts: dict[str, Any] = {}
    for kind in ("request", "token"):
        limit, duration = value.get(f"{kind}_max_limit"), value.get(f"{kind}_reset_duration")
        if limit is None:
            continue
        if type(limit) is not int or limit < 1:
            problems.append(f"{path}.{kind}_max_limit: must be a whole number >= 1")
            continue
        if duration is None:
            problems.append(f"{path}.{kind}_reset_duration: required with {kind}_max_limit (e.g. 1m, 1h, 1d)")
            continue
        try:
            parts[f"{kind}_reset_duration"] = parse_duration(duration)
        except ValueError as exc:
            problems.append(f"{path}.{kind}_reset_duration: {exc}")
            continue
        parts[f"{kind}_max_limit"] = limit
    return RateLimit(**parts) if parts else None


def read_budget(value: Any, path: str, problems: list[str]) -> Budget | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(f"{path}: must be an object {{max_limit, reset_duration}}")
        return None
    for name in value:
        if name not in BUDGET_IGNORED and name not in ("max_limit", "reset_duration"):
            problems.append(f"{path}.{name}: not a budget field")
    limit = value.get("max_limit")
    if not isinstance(limit, (int, float)) or isinstance(limit, bool) or not 0 < limit < 1e12:
        problems.append(f"{path}.max_limit: must be a number of USD > 0")
        return None
    try:
        duration = parse_duration(value.get("reset_duration"))
    except ValueError as exc:
        problems.append(f"{path}.reset_duration: {exc}")
        return None
    return Budget(float(limit), duration)


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_object(record: VirtualKeyRecord, usage: dict[str, tuple[float, int]]) -> dict[str, Any]:
    """Bifrost's VirtualKey object, never with a value. ``usage[metric] = (current usage, period start)``."""
    configs = [{"provider": p.provider, "allowed_models": list(p.allowed_models) or ["*"], "weight": 1.0}
               for p in record.provider_configs]
    obj: dict[str, Any] = {"id": record.id or record.name, "name": record.name, "is_active": record.is_active,
                           "provider_configs": configs, "rate_limit": None, "budget": None, "budgets": [],
                           "source": record.source, "created_at": iso(record.created_at),
                           "updated_at": iso(record.updated_at)}
    limit = record.rate_limit
    if limit is not None:
        rate: dict[str, Any] = {}
        for kind, metric in (("token", "tokens"), ("request", "requests")):
            maximum = getattr(limit, f"{kind}_max_limit")
            used, start = usage.get(metric, (0.0, 0))
            rate.update({f"{kind}_max_limit": maximum, f"{kind}_reset_duration": getattr(limit, f"{kind}_reset_duration"),
                         f"{kind}_current_usage": int(used) if maximum is not None else 0,
                         f"{kind}_last_reset": iso(start) if maximum is not None else None})
        obj["rate_limit"] = rate
    if record.budget is not None:
        spent, start = usage.get("cost", (0.0, 0))
        obj["budget"] = {"max_limit": record.budget.max_limit, "reset_duration": record.budget.reset_duration,
                         "current_usage": round(spent, 6), "last_reset": iso(start)}
        obj["budgets"] = [obj["budget"]]
    return obj
