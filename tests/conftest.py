"""Fixtures: real servers on 127.0.0.1 port 0, real clients, and a secrets check on every test."""
from __future__ import annotations

import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import aiohttp
import pytest
from aiohttp import web

from bifrost_proxy.app import make_app
from bifrost_proxy.config.load import parse_config
from tests.fakes.openai import FakeOpenAI
from tests.fakes.redis_server import redis_server  # noqa: F401  (a fixture: a real redis-server per test)
from tests.fakes.secrets_check import ResponseScanner, watch_gateway_responses

# every key value a test configures; none may ever show up in a response or a log line
TEST_SECRETS = ("sk-test-primary-5ecret", "sk-test-second-5ecret", "sk-test-third-5ecret",
                # governance: virtual keys declared in configs, and the admin key (tests/functional/test_governance*)
                "vk-test-team-a-5ecret-0001", "vk-test-team-b-5ecret-0002", "admin-test-5ecret-0003")


async def _start(app: web.Application, runners: list[web.AppRunner]) -> str:
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    runners.append(runner)
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def serve(app: web.Application) -> str:
        return await _start(app, runners)

    yield serve
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def gateway() -> AsyncIterator[Callable[[dict[str, Any]], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(config: dict[str, Any], env: dict[str, str] | None = None) -> str:
        app = make_app(parse_config(config, "<test>", env or {}))
        return await _start(app, runners)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake_openai(serve_app) -> FakeOpenAI:
    fake = FakeOpenAI()
    fake.base_url = await serve_app(fake.app)
    return fake


def openai_config(base_url: str, **network: Any) -> dict[str, Any]:
    """A one-provider config pointing ``openai`` at a fake, with one test key."""
    return {"providers": {"openai": {
        "keys": [{"name": "primary", "value": TEST_SECRETS[0]}],
        "network_config": {"base_url": base_url, **network},
    }}}


@pytest.fixture(autouse=True)
def no_secrets_in_logs(caplog):
    """Every test's log output is scanned for the test keys (no_secrets_in_responses scans what clients get)."""
    caplog.set_level(logging.DEBUG, logger="bifrost_proxy")
    yield
    text = "\n".join(r.getMessage() for r in caplog.records)
    leaked = [s for s in TEST_SECRETS if s in text]
    assert not leaked, "a key value appeared in the logs"


@pytest.fixture(autouse=True)
def no_secrets_in_responses(monkeypatch) -> Iterator[ResponseScanner]:
    """Every byte a gateway app sends its clients (headers, bodies, stream writes) is scanned for the test keys."""
    scanner = watch_gateway_responses(monkeypatch, TEST_SECRETS)
    yield scanner
    scanner.assert_clean()
