"""The admin API, with Bifrost's paths and objects: ``/api/governance/virtual-keys[/{name}]``.

``Authorization: Bearer <governance.admin_key>``, or Basic with the admin key as the password (any user
name), compared in constant time. Without an admin key the API is off (404 saying how to turn it on).
POST answers 201 with the key's ``value``, the only time it is ever shown; GET shows limits and current
usage, never values; PUT changes the fields it names; DELETE revokes. Keys declared in the config are
read-only here (409): change them in the config. ``{name}`` may also be a key's ``id``.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from bifrost_proxy.appkeys import GOVERNANCE, RUNTIME
from bifrost_proxy.endpoints.common import read_json
from bifrost_proxy.errors import AuthenticationFailed, BadRequest, GatewayError, NotFound
from bifrost_proxy.governance.enforce import Governance
from bifrost_proxy.governance.errors import StoreDown
from bifrost_proxy.governance.keys import KeyEntry, hash_value
from bifrost_proxy.governance.shapes import UNSET, key_object, read_key
from bifrost_proxy.governance.store.base import StoreUnavailable, VirtualKeyRecord

BASE = "/api/governance/virtual-keys"
VALUE_PREFIX = "sk-bf-"  # Bifrost's prefix: its SDK integrations recognise virtual keys by it


class Conflict(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


def new_value() -> str:
    """A fresh key value: 256 random bits."""
    return VALUE_PREFIX + secrets.token_urlsafe(32)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(BASE, list_keys)
    router.add_post(BASE, create_key)
    router.add_get(BASE + "/{name}", get_key)
    router.add_put(BASE + "/{name}", update_key)
    router.add_delete(BASE + "/{name}", delete_key)


def admin(request: web.Request) -> Governance:
    """The app's governance, once the request proved it holds the admin key."""
    governance = request.app[GOVERNANCE]
    key = governance.admin_key
    if not key:
        raise NotFound("the admin API is off: set governance.admin_key in the gateway's config",
                       code="admin_api_off")
    if not _holds(request.headers.get("Authorization", ""), key):
        raise AuthenticationFailed("the admin API needs 'Authorization: Bearer <governance.admin_key>' (or Basic "
                                   "auth with it as the password)", code="invalid_admin_key")
    return governance


def _holds(header: str, key: str) -> bool:
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            credentials = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return False
    elif scheme != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode("utf-8", "surrogatepass"), key.encode("utf-8"))


def _answer(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def _usage(governance: Governance, record: VirtualKeyRecord) -> dict[str, tuple[float, int]]:
    windows = KeyEntry(record).windows(governance.clock, time.time())
    if not windows:
        return {}
    used = await governance.store.usage(record.name, windows)
    governance.remember(record.name, windows, used)
    return {w.metric: (u, w.start) for w, u in zip(windows, used)}


async def _find(governance: Governance, name: str) -> VirtualKeyRecord:
    records = await governance.store.load_keys()
    for record in records:
        if record.name == name:
            return record
    for record in records:
        if record.id == name:
            return record
    raise NotFound(f"no virtual key is named {name[:100]!r}", code="virtual_key_not_found")


def _check(governance: Governance, request: web.Request, fields) -> None:
    problems = list(fields.problems)
    if fields.provider_configs is not UNSET:
        known = request.app[RUNTIME].current.config.providers
        for i, access in enumerate(fields.provider_configs):
            if access.provider not in known:
                problems.append(f"provider_configs[{i}].provider: {access.provider[:100]!r} is not a configured "
                                f"provider ({', '.join(sorted(known)) or 'none'})")
    if problems:
        raise BadRequest("; ".join(problems[:10]), param=problems[0].split(":", 1)[0])


async def _guarded(coroutine):
    try:
        return await coroutine
    except StoreUnavailable as exc:
        raise StoreDown(f"the governance store cannot answer: {exc}") from None


async def list_keys(request: web.Request) -> web.Response:
    governance = admin(request)

    async def build() -> list[dict[str, Any]]:
        records = sorted(await governance.store.load_keys(), key=lambda r: r.name)
        return [key_object(r, await _usage(governance, r)) for r in records]

    keys = await _guarded(build())
    return _answer({"virtual_keys": keys, "count": len(keys), "total_count": len(keys), "limit": len(keys),
                    "offset": 0})


async def get_key(request: web.Request) -> web.Response:
    governance = admin(request)

    async def build() -> dict[str, Any]:
        record = await _find(governance, request.match_info["name"])
        return key_object(record, await _usage(governance, record))

    return _answer({"virtual_key": await _guarded(build())})


async def create_key(request: web.Request) -> web.Response:
    governance = admin(request)
    body = await read_json(request)
    fields = read_key(body)
    if fields.name is UNSET and "name" not in body:
        fields.problems.insert(0, "name: required")
    _check(governance, request, fields)
    value = new_value()
    now = time.time()
    record = fields.apply(VirtualKeyRecord(name=fields.name, value_hash=hash_value(value), id=str(uuid.uuid4()),
                                           source="api", created_at=now, updated_at=now))

    async def create() -> None:
        if any(r.name == record.name for r in await governance.store.load_keys()):
            raise Conflict(f"a virtual key named {record.name!r} exists: PUT changes it, DELETE revokes it")
        await governance.store.put_key(record)
        await governance.reload_keys()  # usable here at once; elsewhere within the refresh interval

    await _guarded(create())
    obj = {**key_object(record, {}), "value": value}
    return _answer({"message": "virtual key created; its value is shown this once", "virtual_key": obj}, 201)


async def update_key(request: web.Request) -> web.Response:
    governance = admin(request)
    body = await read_json(request)
    fields = read_key(body)
    _check(governance, request, fields)

    async def update() -> dict[str, Any]:
        record = await _find(governance, request.match_info["name"])
        _writable(record)
        if fields.name is not UNSET and fields.name != record.name:
            raise BadRequest("a key's name cannot change (its usage is counted under it): create a new key",
                             param="name")
        changed = fields.apply(record, updated_at=time.time())
        await governance.store.put_key(changed)
        await governance.reload_keys()
        return key_object(changed, await _usage(governance, changed))

    return _answer({"message": "virtual key updated", "virtual_key": await _guarded(update())})


async def delete_key(request: web.Request) -> web.Response:
    governance = admin(request)

    async def delete() -> str:
        record = await _find(governance, request.match_info["name"])
        _writable(record)
        await governance.store.delete_key(record.name)
        await governance.reload_keys()
        return record.name

    name = await _guarded(delete())
    return _answer({"message": f"virtual key {name!r} revoked"})


def _writable(record: VirtualKeyRecord) -> None:
    if record.source == "config":
        raise Conflict(f"the virtual key {record.name!r} is declared in the gateway's config: change it there "
                       "(and reload)")
