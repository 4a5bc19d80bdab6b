"""One gateway in front of every fake a Gemini client may reach, for the genai inbound tests.

Providers: ``gemini`` and ``vertex`` (express mode: an API key, no project) on one ``FakeGoogle``,
``openai`` on ``FakeOpenAI``, ``anthropic`` on ``FakeAnthropic``. Upstream keys are ``TEST_SECRETS[0]``
and ``[1]``; the client's own key, ``CLIENT_KEY``, is ``TEST_SECRETS[2]``: the secrets scan fails a test
that lets it reach a response or a log line, and the tests check no upstream ever received it.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator

from google import genai
from google.genai import types

from tests.conftest import TEST_SECRETS
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGoogle
from tests.fakes.openai import FakeOpenAI

CLIENT_KEY = TEST_SECRETS[2]
# google-genai 3.x subclasses aiohttp.ClientSession, which aiohttp answers with this warning (the suite
# turns warnings into errors): for ``pytest.mark.filterwarnings`` in the tests that use the SDK
SDK_WARNING = "ignore:Inheritance class AiohttpClientSession from ClientSession is discouraged:DeprecationWarning"
GOOGLE_KEY, ANTHROPIC_KEY = TEST_SECRETS[0], TEST_SECRETS[1]


@dataclass
class Fakes:
    google: FakeGoogle
    openai: FakeOpenAI
    anthropic: FakeAnthropic

    def config(self, **extra: Any) -> dict[str, Any]:
        network = extra.pop("network", {})
        key = {"name": "primary", "value": GOOGLE_KEY}
        return {"providers": {
            "gemini": {"keys": [key], "network_config": {"base_url": self.google.base_url, **network}},
            "vertex": {"keys": [key], "network_config": {"base_url": self.google.base_url, **network}},
            "openai": {"keys": [{"name": "primary", "value": GOOGLE_KEY}],
                       "network_config": {"base_url": self.openai.base_url, **network}},
            "anthropic": {"keys": [{"name": "primary", "value": ANTHROPIC_KEY}],
                          "network_config": {"base_url": self.anthropic.base_url, **network}},
        }, **extra}

    def upstream_requests(self) -> list[str]:
        """Every header, path, query and body any fake received, as text: for the client-key check."""
        seen = []
        for call in [*self.google.calls, *self.openai.calls, *self.anthropic.calls]:
            seen += [str(call.headers), call.path, str(getattr(call, "query", "")), str(call.body)]
        return seen


async def start_fakes(serve_app) -> Fakes:
    fakes = Fakes(FakeGoogle(api_keys=(GOOGLE_KEY,)), FakeOpenAI(), FakeAnthropic())
    for fake in (fakes.google, fakes.openai, fakes.anthropic):
        fake.base_url = await serve_app(fake.app)
    return fakes


@asynccontextmanager
async def genai_client(base: str, api_version: str | None = None) -> AsyncIterator[Any]:
    """google-genai's async client pointed at the gateway (its default api_version is v1)."""
    options = types.HttpOptions(base_url=f"{base}/genai", api_version=api_version)
    async with genai.Client(api_key=CLIENT_KEY, http_options=options).aio as client:
        yield client
