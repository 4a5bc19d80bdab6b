"""What the ``keys`` CLI needs from the config file: which store, and which keys the file declares.

Deliberately tolerant: the server validates the whole governance block; the CLI reads only these two things,
so a config the CLI can use is never refused for a field it does not look at. Limits and budgets are read
inline (``rate_limit: {...}``) or, as in Bifrost's ``config.json``, by ``rate_limit_id`` / ``budget_id``
from ``governance.rate_limits`` / ``governance.budgets``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bifrost_proxy.governance.store.base import Budget, GovernanceStore, ProviderAccess, RateLimit, VirtualKeyRecord

DEFAULT_STORE = "sqlite"


class CliConfigError(Exception):
    """The config file cannot be read, or names a store the CLI cannot open: exit status 2."""


@dataclass(slots=True)
class CliConfig:
    store: str = DEFAULT_STORE
    keys: dict[str, VirtualKeyRecord] = field(default_factory=dict)  # declared in the file, by name


def read_cli_config(path: str | None) -> CliConfig:
    if path is None:
        return CliConfig()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise CliConfigError(f"{path}: not valid YAML or JSON{where}") from None
    governance = data.get("governance") if isinstance(data, dict) else None
    if not isinstance(governance, dict):
        return CliConfig()
    store = governance.get("store", DEFAULT_STORE)
    if isinstance(store, str) and store.startswith("env."):
        store = os.environ.get(store[4:]) or DEFAULT_STORE
    if not isinstance(store, str) or not store.strip():
        raise CliConfigError(f"{path}: governance.store: must be sqlite, sqlite:///PATH or redis://HOST:PORT/DB")
    return CliConfig(store.strip(), _declared_keys(governance))


def open_cli_store(spec: str) -> GovernanceStore:
    """The store a spec names (not opened). Imports lazily: the Redis client only when Redis is used."""
    if spec == "sqlite" or spec.startswith("sqlite://"):
        from bifrost_proxy.governance.store.sqlite import SqliteStore, sqlite_path

        try:
            return SqliteStore(sqlite_path(spec))
        except ValueError as exc:
            raise CliConfigError(f"governance.store: {exc}") from None
    if spec.startswith(("redis://", "rediss://", "unix://")):
        from bifrost_proxy.governance.store.redis import RedisStore

        return RedisStore(spec)
    if spec == "memory":
        raise CliConfigError("governance.store: memory keeps keys inside the server process, where the CLI "
                             "cannot reach them; use sqlite or redis://")
    raise CliConfigError(f"governance.store: unknown store {spec.split('://')[0]!r}: "
                         "write sqlite, sqlite:///PATH or redis://HOST:PORT/DB")


def _declared_keys(governance: dict[str, Any]) -> dict[str, VirtualKeyRecord]:
    rate_limits = _by_id(governance.get("rate_limits"))
    budgets = _by_id(governance.get("budgets"))
    keys: dict[str, VirtualKeyRecord] = {}
    entries = governance.get("virtual_keys")
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        rate = entry.get("rate_limit") or rate_limits.get(entry.get("rate_limit_id"))
        budget = entry.get("budget") or budgets.get(entry.get("budget_id"))
        keys[entry["name"]] = VirtualKeyRecord(
            name=entry["name"], value_hash="", id=str(entry.get("id") or ""),
            is_active=entry.get("is_active", True) is not False,
            provider_configs=tuple(_access(p) for p in entry.get("provider_configs") or () if isinstance(p, dict)),
            rate_limit=_rate_limit(rate) if isinstance(rate, dict) else None,
            budget=_budget(budget) if isinstance(budget, dict) else None,
            source="config")
    return keys


def _by_id(entries: Any) -> dict[Any, dict[str, Any]]:
    return {e.get("id"): e for e in entries if isinstance(e, dict)} if isinstance(entries, list) else {}


def _access(entry: dict[str, Any]) -> ProviderAccess:
    models = entry.get("allowed_models")
    return ProviderAccess(str(entry.get("provider", "")), tuple(str(m) for m in models or ()))


def _rate_limit(raw: dict[str, Any]) -> RateLimit:
    return RateLimit(request_max_limit=_number(raw.get("request_max_limit"), int),
                     request_reset_duration=raw.get("request_reset_duration"),
                     token_max_limit=_number(raw.get("token_max_limit"), int),
                     token_reset_duration=raw.get("token_reset_duration"))


def _budget(raw: dict[str, Any]) -> Budget | None:
    limit = _number(raw.get("max_limit"), float)
    duration = raw.get("reset_duration")
    return Budget(limit, duration) if limit is not None and isinstance(duration, str) else None


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return kind(value)
