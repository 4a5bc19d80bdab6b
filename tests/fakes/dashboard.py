"""Test helpers for the dashboard: a fake governance object, an SSE reader, and a scan for the admin key.

``FakeGovernance`` plays ``app[GOVERNANCE]`` as issue 12 describes it: an ``admin_key``, ``snapshot()``
giving each virtual key its limits, usage and spend in Bifrost's field names (with the key's ``value`` in
it, as a careless store might, to prove the dashboard never passes it on), and ``recent_requests()`` as a
store holding rows from before a restart. Its spend rises with the tokens of every finished request, fed
by the recorder's listener hook, the same way a real store is fed.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import orjson
import pytest
from aiohttp import ClientResponse, web

from bifrost_proxy.app import make_app
from bifrost_proxy.appkeys import GOVERNANCE, RECORDER
from bifrost_proxy.config.load import parse_config
from tests.fakes.secrets_check import watch_gateway_responses

ADMIN_KEY = "admin-test-5ecret-key"
VIRTUAL_KEY_VALUE = "vk-test-team-a-5ecret"
UI_SECRETS = (ADMIN_KEY, VIRTUAL_KEY_VALUE)
PRICE_PER_TOKEN = 0.001  # USD


class FakeGovernance:
    enforcing = False  # the gateway asks for no virtual key: the fake only feeds the dashboard's panels

    def __init__(self, admin_key: str | None = None, stored: list[dict] | None = None,
                 request_limit: int = 60) -> None:
        self.admin_key = admin_key
        self.request_limit = request_limit
        self.requests = 0
        self.tokens = 0
        self.spent = 0.0
        self.stored = stored or []
        self.fail = False

    def attach(self, app: web.Application) -> "FakeGovernance":
        app[GOVERNANCE] = self
        app[RECORDER].listeners.append(self.on_row)
        return self

    def on_row(self, row: dict[str, Any]) -> None:
        tokens = (row["tokens_in"] or 0) + (row["tokens_out"] or 0)
        self.requests += 1
        self.tokens += tokens
        self.spent += tokens * PRICE_PER_TOKEN

    def snapshot(self) -> list[dict[str, Any]]:
        if self.fail:
            raise ConnectionError("store unreachable")
        return [
            {"name": "team-a", "value": VIRTUAL_KEY_VALUE, "is_active": True,
             "rate_limit": {"request_max_limit": self.request_limit, "request_current_usage": self.requests,
                            "request_reset_duration": "1m", "token_max_limit": 200000,
                            "token_current_usage": self.tokens, "token_reset_duration": "1m"},
             "budget": {"max_limit": 50, "current_usage": round(self.spent, 6), "reset_duration": "1M"}},
            {"name": "team-b", "is_active": False},
        ]

    async def recent_requests(self, limit: int) -> list[dict[str, Any]]:
        return self.stored[:limit]


async def start_gateway(serve_app: Callable[[web.Application], Awaitable[str]], config: dict[str, Any],
                        governance: FakeGovernance | None = None) -> tuple[str, web.Application]:
    app = make_app(parse_config(config, "<test>", {}))
    if governance is not None:
        governance.attach(app)
    return await serve_app(app), app


class EventReader:
    """Server-sent events off an aiohttp response: ``(name, data)`` pairs; ``raw`` keeps every byte read."""

    def __init__(self, response: ClientResponse) -> None:
        self.response = response
        self.buffer = b""
        self.raw = bytearray()

    async def next(self) -> tuple[str, Any]:
        while True:
            while b"\n\n" not in self.buffer:
                chunk = await self.response.content.readany()
                if not chunk:
                    raise EOFError("the event stream ended")
                self.raw += chunk
                self.buffer += chunk
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            name, data = "message", None
            for line in block.split(b"\n"):
                field, _, value = line.partition(b": ")
                if field == b"event":
                    name = value.decode()
                elif field == b"data":
                    data = orjson.loads(value)
            if data is not None:
                return name, data

    async def until(self, name: str, check: Callable[[Any], bool] = lambda data: True,
                    timeout: float = 10.0) -> Any:
        """The next ``name`` event that passes ``check``; ticks never stop, so this gives up after ``timeout``."""
        async with asyncio.timeout(timeout):
            while True:
                got, data = await self.next()
                if got == name and check(data):
                    return data


@pytest.fixture
def no_ui_secrets(monkeypatch, caplog):
    """The admin key and the virtual key's value never reach a response or a log line."""
    scanner = watch_gateway_responses(monkeypatch, UI_SECRETS)
    yield scanner
    scanner.assert_clean()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert not [s for s in UI_SECRETS if s in text], "a dashboard secret appeared in the logs"
