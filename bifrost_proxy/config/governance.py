"""The ``governance:`` and ``pricing:`` blocks, and Bifrost's ``client.enforce_auth_on_inference``.

Bifrost's own ``config.json`` governance block loads as it is: virtual keys with inline ``rate_limit`` and
``budget`` (this gateway's shape and Bifrost's API objects), or with ``rate_limit_id`` / ``budget_id``
naming entries of ``governance.rate_limits`` / ``governance.budgets``, or budgets that name their key
(``budgets[].virtual_key_id``). Sections we do not serve (teams, customers, routing rules ...) are
reported as warnings. Values (``env.NAME`` or literals) are hashed here; errors never show one.
"""
from __future__ import annotations

from typing import Any, Mapping

from bifrost_proxy.config.reader import Reader
from bifrost_proxy.config.schema import GovernanceConfig
from bifrost_proxy.governance.keys import hash_value
from bifrost_proxy.governance.shapes import UNSET, KeyFields, check_name, read_budget, read_key, read_rate_limit
from bifrost_proxy.governance.store import STORE_HELP, check_store_spec, store_secret
from bifrost_proxy.governance.store.base import VirtualKeyRecord


SERVED = {"enabled", "store", "admin_key", "virtual_keys", "budgets", "rate_limits", "auth_config"}
CLIENT_FLAGS = ("enforce_auth_on_inference", "enforce_governance_header")
SHORT_VALUE = 16  # below this, a key's value could be guessed: SHA-256 protects only high-entropy values


def read_governance(r: Reader, root: dict[str, Any]) -> GovernanceConfig:
    path = "governance"
    data = r.mapping(root.get("governance"), path)
    client = root.get("client") if isinstance(root.get("client"), dict) else {}
    for name in data:
        if name not in SERVED:
            r.warnings.append(f"{path}.{name}: not served by this gateway, ignored")
    auth = r.mapping(data.get("auth_config"), f"{path}.auth_config")
    enabled = _enabled(r, data, client, auth)
    store = r.string(data, "store", path, "sqlite")
    problem = check_store_spec(store)
    if problem:
        r.fail(f"{path}.store", f"{problem}; {STORE_HELP}")
    admin_key = r.string(data, "admin_key", path, "", secret=True)
    if not admin_key and auth.get("is_enabled") is True:
        # Bifrost's dashboard login: its password is our admin key (Basic auth takes it as the password)
        admin_key = r.string(auth, "admin_password", f"{path}.auth_config", "", secret=True)
    if admin_key and len(admin_key) < SHORT_VALUE:
        r.warnings.append(f"{path}.admin_key: shorter than {SHORT_VALUE} characters; use a long random value")
    limits = _by_id(r, data.get("rate_limits"), f"{path}.rate_limits", read_rate_limit)
    budgets = _by_id(r, data.get("budgets"), f"{path}.budgets", read_budget)
    owned = _budget_owners(data.get("budgets"))
    keys, secrets = _virtual_keys(r, data.get("virtual_keys"), f"{path}.virtual_keys", limits, budgets, owned)
    if admin_key:
        secrets.append(admin_key)
    if store_secret(store):
        secrets.append(store_secret(store))
    return GovernanceConfig(enabled=enabled, store=store, admin_key=admin_key, virtual_keys=tuple(keys),
                            secrets=tuple(secrets))


def _enabled(r: Reader, data: dict[str, Any], client: dict[str, Any], auth: dict[str, Any]) -> bool:
    if "enabled" in data:
        return r.boolean(data, "enabled", "governance", False)
    if auth.get("disable_auth_on_inference") is True:  # Bifrost: the specific switch overrides the client's
        return False
    return any(r.boolean(client, flag, "client", False) for flag in CLIENT_FLAGS if flag in client)


def _by_id(r: Reader, value: Any, path: str, read) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if value is None:
        return out
    if not isinstance(value, list):
        r.fail(path, "must be a list")
        return out
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            r.fail(f"{path}[{i}]", "must be an object with a string 'id'")
            continue
        body = {k: v for k, v in entry.items() if k not in ("id", "name", "virtual_key_id")}
        out[entry["id"]] = read(body, f"{path}[{i}]", r.problems)
    return out


def _budget_owners(value: Any) -> dict[str, str]:
    """Bifrost's newer form: a budget names the virtual key it belongs to. Key id -> budget id."""
    if not isinstance(value, list):
        return {}
    return {b["virtual_key_id"]: b["id"] for b in value
            if isinstance(b, dict) and isinstance(b.get("virtual_key_id"), str) and isinstance(b.get("id"), str)}


def _virtual_keys(r: Reader, value: Any, path: str, limits: dict[str, Any], budgets: dict[str, Any],
                  owned: dict[str, str]) -> tuple[list[VirtualKeyRecord], list[str]]:
    keys: list[VirtualKeyRecord] = []
    secrets: list[str] = []
    if value is None:
        return keys, secrets
    if not isinstance(value, list):
        r.fail(path, "must be a list of virtual keys")
        return keys, secrets
    names: dict[str, int] = {}
    hashes: dict[str, int] = {}
    for i, data in enumerate(value):
        kpath = f"{path}[{i}]"
        if not isinstance(data, dict):
            r.fail(kpath, "must be a mapping")
            continue
        fields = read_key({k: v for k, v in data.items() if k != "name"}, kpath)
        r.problems.extend(fields.problems)
        key_id = data.get("id") if isinstance(data.get("id"), str) else ""
        name = data.get("name", key_id or None)
        problem = check_name(name) if name is not None else "required (or an 'id')"
        if problem:
            r.fail(f"{kpath}.name", problem)
            continue
        name = name.strip()
        if name in names:
            r.fail(f"{kpath}.name", f"duplicate virtual key name {name!r} (also virtual_keys[{names[name]}])")
        names[name] = i
        value_text = r.string(data, "value", kpath, "", secret=True)
        if not value_text:
            if "value" not in data:
                r.fail(f"{kpath}.value", "required: the key clients send (env.NAME, or a literal)")
            continue
        if len(value_text) < SHORT_VALUE:
            r.warnings.append(f"{kpath}.value: shorter than {SHORT_VALUE} characters; use a long random value")
        digest = hash_value(value_text)
        if digest in hashes:
            r.fail(f"{kpath}.value", f"the same value as virtual_keys[{hashes[digest]}]: each key needs its own")
        hashes[digest] = i
        secrets.append(value_text)
        _references(r, data, kpath, fields, key_id, limits, budgets, owned)
        keys.append(VirtualKeyRecord(
            name=name, value_hash=digest, id=key_id or name,
            is_active=True if fields.is_active is UNSET else fields.is_active,
            provider_configs=() if fields.provider_configs is UNSET else fields.provider_configs,
            rate_limit=None if fields.rate_limit is UNSET else fields.rate_limit,
            budget=None if fields.budget is UNSET else fields.budget,
            source="config"))
    return keys, secrets


def _references(r: Reader, data: dict[str, Any], kpath: str, fields: KeyFields, key_id: str,
                limits: dict[str, Any], budgets: dict[str, Any], owned: dict[str, str]) -> None:
    """Resolve ``rate_limit_id`` / ``budget_id`` (and budgets that name this key) into ``fields``."""
    ref = data.get("rate_limit_id")
    if ref is not None:
        if ref not in limits:
            r.fail(f"{kpath}.rate_limit_id", f"no governance.rate_limits entry has id {str(ref)[:100]!r}")
        elif fields.rate_limit is UNSET:
            fields.rate_limit = limits[ref]
    ref = data.get("budget_id", owned.get(key_id) if key_id else None)
    if ref is not None:
        if ref not in budgets:
            r.fail(f"{kpath}.budget_id", f"no governance.budgets entry has id {str(ref)[:100]!r}")
        elif fields.budget is UNSET:
            fields.budget = budgets[ref]


def read_pricing(r: Reader, root: dict[str, Any]) -> Mapping[str, tuple[float, float]]:
    """``pricing: {"provider/model": {input: USD per 1M tokens, output: ...}}``; keys may be globs."""
    data = r.mapping(root.get("pricing"), "pricing")
    out: dict[str, tuple[float, float]] = {}
    for name, entry in data.items():
        path = f"pricing.{name}"
        if not isinstance(name, str) or "/" not in name or name.startswith("/"):
            r.fail(path, "must be named 'provider/model' (globs allowed, e.g. 'local-vllm/*')")
            continue
        entry = r.mapping(entry, path)
        for field_name in entry:
            if field_name not in ("input", "output"):
                r.fail(f"{path}.{field_name}", "unknown field: a price has 'input' and 'output' (USD per 1M tokens)")
        if "input" not in entry and "output" not in entry:
            r.fail(path, "needs 'input' and/or 'output' (USD per 1M tokens)")
            continue
        out[name] = (r.number(entry, "input", path, 0.0), r.number(entry, "output", path, 0.0))
    return out
