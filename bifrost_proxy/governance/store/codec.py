"""A ``VirtualKeyRecord`` as JSON, the one shape both persistent stores write (SQLite rows, Redis hash fields).

Field names are Bifrost's, so a stored key reads like the object the admin API shows. Reading is tolerant
of fields added later (ignored) and of fields a record was written without (their defaults).
"""
from __future__ import annotations

from typing import Any

import orjson

from bifrost_proxy.governance.store.base import Budget, ProviderAccess, RateLimit, VirtualKeyRecord


def record_to_json(record: VirtualKeyRecord) -> bytes:
    rate = record.rate_limit
    return orjson.dumps({
        "name": record.name,
        "value_hash": record.value_hash,
        "id": record.id,
        "is_active": record.is_active,
        "provider_configs": [{"provider": p.provider, "allowed_models": list(p.allowed_models)}
                             for p in record.provider_configs],
        "rate_limit": None if rate is None else {
            "request_max_limit": rate.request_max_limit, "request_reset_duration": rate.request_reset_duration,
            "token_max_limit": rate.token_max_limit, "token_reset_duration": rate.token_reset_duration},
        "budget": None if record.budget is None else {
            "max_limit": record.budget.max_limit, "reset_duration": record.budget.reset_duration},
        "source": record.source,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    })


def record_from_json(data: bytes | str) -> VirtualKeyRecord:
    raw: dict[str, Any] = orjson.loads(data)
    rate = raw.get("rate_limit")
    budget = raw.get("budget")
    return VirtualKeyRecord(
        name=raw["name"],
        value_hash=raw["value_hash"],
        id=raw.get("id") or "",
        is_active=bool(raw.get("is_active", True)),
        provider_configs=tuple(ProviderAccess(p["provider"], tuple(p.get("allowed_models") or ()))
                               for p in raw.get("provider_configs") or ()),
        rate_limit=None if rate is None else RateLimit(
            request_max_limit=rate.get("request_max_limit"), request_reset_duration=rate.get("request_reset_duration"),
            token_max_limit=rate.get("token_max_limit"), token_reset_duration=rate.get("token_reset_duration")),
        budget=None if budget is None else Budget(float(budget["max_limit"]), budget["reset_duration"]),
        source="config" if raw.get("source") == "config" else "api",
        created_at=float(raw.get("created_at") or 0.0),
        updated_at=float(raw.get("updated_at") or 0.0),
    )
