"""Never lose a request (issue 6): key choice and cooldowns, retries, fallbacks, back-pressure, streams.

Every rule is proven against the fault-injecting fake (tests/fakes/faults.py) over real sockets, with
exact upstream call counts. Timings appear only as generous upper bounds (and lower bounds where a wait is
the rule), never as exact durations.
"""
from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from typing import Any, Callable

import aiohttp
import orjson
import pytest
from aiohttp import web

from bifrost_proxy.app import make_app
from bifrost_proxy.appkeys import RUNTIME
from bifrost_proxy.config.load import parse_config
from bifrost_proxy.errors import UpstreamError
from bifrost_proxy.routing import dispatch as dispatch_module
from bifrost_proxy.routing.limiter import ProviderLimiter
from tests.conftest import TEST_SECRETS
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.faults import Fault, FaultyOpenAI, error_event
from tests.fakes.openai import STREAM_WITHOUT_USAGE

SECRET = {"a": TEST_SECRETS[0], "b": TEST_SECRETS[1], "c": TEST_SECRETS[2]}
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
STREAM_BYTES = b"".join(STREAM_WITHOUT_USAGE)
FAST_BACKOFF = {"retry_backoff_initial": 1, "retry_backoff_max": 5}  # ms: retries without slowing the suite


def provider(base_url: str, keys: dict[str, float], **network: Any) -> dict[str, Any]:
    return {"keys": [{"name": n, "value": SECRET[n], "weight": w} for n, w in keys.items()],
            "network_config": {"base_url": base_url, **FAST_BACKOFF, **network}}


def config(base_url: str, keys: dict[str, float] | None = None, **network: Any) -> dict[str, Any]:
    return {"providers": {"openai": provider(base_url, keys or {"a": 1.0}, **network)}}


class Gateway:
    """The real app on a real socket, with its runtime at hand to watch the provider queues."""

    def __init__(self, base: str, app: web.Application) -> None:
        self.base = base
        self.app = app

    def limiter(self, name: str = "openai") -> ProviderLimiter:
        return self.app[RUNTIME].current.providers[name].limiter

    @property
    def chat_url(self) -> str:
        return f"{self.base}/v1/chat/completions"


@pytest.fixture
async def faulty(serve_app) -> FaultyOpenAI:
    fake = FaultyOpenAI()
    fake.base_url = await serve_app(fake.app)
    return fake


@pytest.fixture
def start(serve_app) -> Callable[[dict[str, Any]], Any]:
    async def start(cfg: dict[str, Any]) -> Gateway:
        app = make_app(parse_config(cfg, "<test>", {}))
        return Gateway(await serve_app(app), app)

    return start


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for gateway state we cannot get an event for (queue lengths); bounded, never a fixed sleep."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.002)


async def post(http, url: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    async with http.post(url, json=body) as resp:
        return resp.status, dict(resp.headers), await resp.read()


def error_of(raw: bytes) -> dict[str, Any]:
    error = orjson.loads(raw)["error"]
    assert set(error) == {"message", "type", "code", "param"}
    return error


def events_of(raw: bytes) -> list[bytes]:
    return [e + b"\n\n" for e in raw.split(b"\n\n") if e]


async def raw_request(base: str, body: dict[str, Any]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client on a bare socket, so a test can hang up on the gateway at an exact moment."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    payload = orjson.dumps(body)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
    await writer.drain()
    return reader, writer


def hang_up(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


# ---------------------------------------------------------------- key selection and cooldowns


async def test_400_requests_over_keys_weighted_3_to_1(start, faulty, http):
    gw = await start(config(faulty.base_url, {"a": 3.0, "b": 1.0}))
    limit = asyncio.Semaphore(50)

    async def one() -> int:
        async with limit:
            return (await post(http, gw.chat_url, CHAT))[0]

    statuses = await asyncio.gather(*(one() for _ in range(400)))
    assert statuses == [200] * 400
    counts = faulty.counts()
    assert counts[SECRET["a"]] + counts[SECRET["b"]] == 400
    # Binomial(400, 0.75): sd 8.7 calls; +-40 calls (about 4.6 sd) fails once in ~200,000 runs
    assert 260 <= counts[SECRET["a"]] <= 340, counts


async def test_only_keys_admitting_the_model_serve_it_and_aliases_rename_it(start, faulty, http):
    cfg = config(faulty.base_url)
    cfg["providers"]["openai"]["keys"] = [
        {"name": "a", "value": SECRET["a"], "models": ["gpt-4o-mini"]},
        {"name": "b", "value": SECRET["b"], "models": ["gpt-4o-2024-08-06"],
         "aliases": {"gpt-4o": "gpt-4o-2024-08-06"}},
    ]
    gw = await start(cfg)
    for _ in range(5):
        status, headers, _ = await post(http, gw.chat_url, {**CHAT, "model": "openai/gpt-4o"})
        assert status == 200 and headers["x-bifrost-model"] == "gpt-4o-2024-08-06"
        status, headers, _ = await post(http, gw.chat_url, CHAT)
        assert status == 200 and headers["x-bifrost-model"] == "gpt-4o-mini"
    assert [(c.key, c.model) for c in faulty.calls] == [
        (SECRET["b"], "gpt-4o-2024-08-06"), (SECRET["a"], "gpt-4o-mini")] * 5
    status, _, raw = await post(http, gw.chat_url, {**CHAT, "model": "openai/o1"})
    assert status == 404 and error_of(raw)["code"] == "model_not_served"
    assert faulty.count() == 10


async def test_a_refused_key_cools_down_while_another_serves_and_is_not_a_retry(start, faulty, http):
    faulty.always(SECRET["a"], Fault(status=401, error_type="invalid_request_error"))
    gw = await start(config(faulty.base_url, {"a": 1000.0, "b": 1.0}))  # max_retries: 0
    attempts = []
    for _ in range(10):
        status, headers, _ = await post(http, gw.chat_url, CHAT)
        assert status == 200 and headers["x-bifrost-provider"] == "openai"
        attempts.append(int(headers["x-bifrost-attempts"]))
    assert faulty.count(SECRET["a"]) == 1  # refused once, then skipped for the cooldown
    assert faulty.count(SECRET["b"]) == 10
    assert sum(attempts) == 11


async def test_every_key_refused_is_a_401_naming_the_keys_and_the_next_request_asks_again(start, faulty, http):
    for name in ("a", "b"):
        faulty.always(SECRET[name], Fault(status=401, error_type="invalid_request_error",
                                          error_message="Incorrect API key provided"))
    gw = await start(config(faulty.base_url, {"a": 1.0, "b": 1.0}, max_retries=3))
    status, headers, raw = await post(http, gw.chat_url, CHAT)
    assert status == 401 and headers["x-bifrost-attempts"] == "2"
    error = error_of(raw)
    assert "refused every eligible key" in error["message"] and "Incorrect API key" in error["message"]
    assert "(a, b)" in error["message"]
    assert faulty.counts() == Counter({SECRET["a"]: 1, SECRET["b"]: 1})
    first_refused = faulty.calls[0].key
    # both keys are cooling after the refusal, yet the next request is not answered from memory (issue 11):
    # each key is asked again, the one refused longest ago first, and the answer is the upstream's own
    status, headers, raw = await post(http, gw.chat_url, CHAT)
    assert status == 401 and headers["x-bifrost-attempts"] == "2"
    assert error_of(raw)["code"] != "keys_refused" and "(a, b)" in error_of(raw)["message"]
    assert faulty.count() == 4 and faulty.calls[2].key == first_refused


async def test_an_upstream_error_echoing_the_key_never_shows_it(start, faulty, http):
    faulty.always(SECRET["a"], Fault(status=401, error_type="invalid_request_error",
                                     error_message=f"Incorrect API key provided: {SECRET['a']}."))
    gw = await start(config(faulty.base_url))
    status, _, raw = await post(http, gw.chat_url, CHAT)
    assert status == 401 and "Incorrect API key provided: <key a>." in error_of(raw)["message"]
    assert SECRET["a"].encode() not in raw


async def test_a_rate_limited_key_cools_for_its_retry_after_while_another_serves(start, faulty, http):
    faulty.script(SECRET["a"], Fault(status=429, retry_after="30", error_type="rate_limit_error"))
    gw = await start(config(faulty.base_url, {"a": 1000.0, "b": 1.0}, max_retries=1))
    status, headers, _ = await post(http, gw.chat_url, CHAT)
    assert status == 200 and headers["x-bifrost-attempts"] == "2"
    for _ in range(5):
        status, headers, _ = await post(http, gw.chat_url, CHAT)
        assert status == 200 and headers["x-bifrost-attempts"] == "1"
    assert faulty.counts() == Counter({SECRET["a"]: 1, SECRET["b"]: 6})


async def test_when_every_key_cools_the_request_waits_for_the_soonest_if_the_timeout_allows(start, faulty, http):
    faulty.script(SECRET["a"], Fault(status=429, retry_after="0.4", error_type="rate_limit_error"))
    gw = await start(config(faulty.base_url, max_retries=1, default_request_timeout_in_seconds=5))
    began = time.monotonic()
    status, headers, _ = await post(http, gw.chat_url, CHAT)
    elapsed = time.monotonic() - began
    assert status == 200 and headers["x-bifrost-attempts"] == "2"
    assert faulty.count(SECRET["a"]) == 2
    assert 0.35 <= elapsed < 4  # Retry-After honoured, then served


async def test_a_request_arriving_while_every_key_cools_waits_instead_of_calling(start, faulty, http):
    faulty.script(SECRET["a"], Fault(status=429, retry_after="0.4", error_type="rate_limit_error"))
    gw = await start(config(faulty.base_url, default_request_timeout_in_seconds=5))  # max_retries: 0
    status, headers, _ = await post(http, gw.chat_url, CHAT)
    assert status == 429 and headers["Retry-After"] == "0"  # the upstream's 0.4 s, rounded
    began = time.monotonic()
    status, headers, _ = await post(http, gw.chat_url, CHAT)
    assert status == 200 and headers["x-bifrost-attempts"] == "1"
    assert 0.3 <= time.monotonic() - began < 4
    assert faulty.count() == 2


async def test_when_every_key_cools_past_the_timeout_the_answer_is_429_at_once(start, faulty, http):
    faulty.script(SECRET["a"], Fault(status=429, retry_after="30", error_type="rate_limit_error",
                                     error_message="Rate limit reached for gpt-4o-mini"))
    gw = await start(config(faulty.base_url, max_retries=3, default_request_timeout_in_seconds=5))
    began = time.monotonic()
    status, headers, raw = await post(http, gw.chat_url, CHAT)
    assert time.monotonic() - began < 3  # no point waiting: the key is cooling for 30 s
    # the upstream's own answer: status, message and Retry-After
    assert status == 429 and headers["Retry-After"] == "30"
    assert error_of(raw)["message"] == "Rate limit reached for gpt-4o-mini"
    status, headers, raw = await post(http, gw.chat_url, CHAT)
    assert status == 429 and error_of(raw)["code"] == "keys_cooling_down"
    assert 25 <= int(headers["Retry-After"]) <= 30
    assert faulty.count() == 1


# ---------------------------------------------------------------- retries


TRANSIENT = {
    "500": Fault(status=500),
    "502": Fault(status=502),
    "503": Fault(status=503),
    "504": Fault(status=504),
    "529-overloaded": Fault(status=529, error_type="overloaded_error"),
    "429": Fault(status=429, retry_after="0", error_type="rate_limit_error"),
    "reset": Fault(reset=True),
}


@pytest.mark.parametrize("name", TRANSIENT)
async def test_transient_failures_are_retried_up_to_max_retries(start, faulty, http, name):
    fault = TRANSIENT[name]
    faulty.script(SECRET["a"], fault, fault)
    gw = await start(config(faulty.base_url, max_retries=2))
    status, headers, raw = await post(http, gw.chat_url, CHAT)
    assert status == 200 and headers["x-bifrost-attempts"] == "3"
    assert faulty.count() == 3


@pytest.mark.parametrize("name, status", [("500", 500), ("503", 503), ("529-overloaded", 503), ("reset", 502)])
async def test_when_retries_are_spent_the_last_failure_is_answered(start, faulty, http, name, status):
    faulty.always(SECRET["a"], TRANSIENT[name])
    gw = await start(config(faulty.base_url, max_retries=2))
    got, headers, raw = await post(http, gw.chat_url, CHAT)
    assert got == status and headers["x-bifrost-attempts"] == "3"
    error_of(raw)
    assert faulty.count() == 3


@pytest.mark.parametrize("status", [400, 404, 413, 422])
async def test_errors_of_the_request_itself_are_never_retried(start, faulty, http, status):
    for name in ("a", "b"):
        faulty.always(SECRET[name], Fault(status=status, error_type="invalid_request_error",
                                          error_message="bad field"))
    gw = await start(config(faulty.base_url, {"a": 1.0, "b": 1.0}, max_retries=5))
    got, headers, raw = await post(http, gw.chat_url, CHAT)
    assert got == status and error_of(raw)["message"] == "bad field"
    assert faulty.count() == 1 and headers["x-bifrost-attempts"] == "1"


async def test_a_retry_prefers_a_key_not_tried_yet(start, faulty, http):
    for name in ("a", "b"):
        faulty.always(SECRET[name], Fault(status=503))
    gw = await start(config(faulty.base_url, {"a": 1.0, "b": 1.0}, max_retries=1))
    for i in range(10):
        status, _, _ = await post(http, gw.chat_url, CHAT)
        assert status == 503
        pair = faulty.calls[2 * i: 2 * i + 2]
        assert {c.key for c in pair} == {SECRET["a"], SECRET["b"]}


async def test_a_refused_key_does_not_use_up_a_retry(start, faulty, http):
    faulty.always(SECRET["a"], Fault(status=403, error_type="permission_error"))
    faulty.script(SECRET["b"], Fault(status=500))
    gw = await start(config(faulty.base_url, {"a": 1000.0, "b": 1.0}, max_retries=1))
    status, headers, _ = await post(http, gw.chat_url, CHAT)
    assert status == 200 and headers["x-bifrost-attempts"] == "3"
    assert faulty.counts() == Counter({SECRET["a"]: 1, SECRET["b"]: 2})


async def test_an_unreachable_upstream_is_retried_then_502(start, http):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, never listening: every connect is refused
        gw = await start(config(f"http://127.0.0.1:{s.getsockname()[1]}", max_retries=2))
        status, headers, raw = await post(http, gw.chat_url, CHAT)
    assert status == 502 and error_of(raw)["code"] == "upstream_unreachable"
    assert headers["x-bifrost-attempts"] == "3"


async def test_backoff_stays_within_its_ceilings(start, faulty, http):
    faulty.script(SECRET["a"], *[Fault(status=503)] * 3)
    gw = await start(config(faulty.base_url, max_retries=3, retry_backoff_initial=100, retry_backoff_max=200))
    began = time.monotonic()
    status, headers, _ = await post(http, gw.chat_url, CHAT)
    assert status == 200 and headers["x-bifrost-attempts"] == "4"
    assert time.monotonic() - began < 0.1 + 0.2 + 0.2 + 2  # the three ceilings plus generous slack


async def test_all_attempts_together_stay_within_the_timeout(start, faulty, http):
    faulty.always(SECRET["a"], Fault(status=503, first_byte_delay=0.2))
    gw = await start(config(faulty.base_url, max_retries=100, default_request_timeout_in_seconds=1))
    began = time.monotonic()
    status, _, _ = await post(http, gw.chat_url, CHAT)
    assert time.monotonic() - began < 3
    assert status in (503, 504)
    assert 2 <= faulty.count() <= 6  # about 1 s / 0.2 s, never max_retries + 1


async def test_a_hang_uses_the_whole_timeout_so_it_is_not_retried(start, faulty, http):
    faulty.always(SECRET["a"], Fault(hang=True))
    gw = await start(config(faulty.base_url, max_retries=5, default_request_timeout_in_seconds=0.3))
    status, headers, raw = await post(http, gw.chat_url, CHAT)
    assert status == 504 and error_of(raw)["type"] == "timeout_error"
    assert faulty.count() == 1 and headers["x-bifrost-attempts"] == "1"
    await asyncio.wait_for(faulty.wait_gone(1), 5)  # and the hanging upstream call was closed


async def test_a_slow_first_byte_within_the_timeout_is_served(start, faulty, http):
    faulty.script(SECRET["a"], Fault(first_byte_delay=0.3))
    gw = await start(config(faulty.base_url, default_request_timeout_in_seconds=5))
    status, _, _ = await post(http, gw.chat_url, {**CHAT, "stream": True})
    assert status == 200 and faulty.count() == 1


# ---------------------------------------------------------------- fallbacks


def with_backup(base_url: str, **network: Any) -> dict[str, Any]:
    cfg = config(base_url, **network)
    cfg["providers"]["backup"] = {"type": "openai", **provider(base_url, {"b": 1.0}, **network)}
    return cfg


async def test_request_fallbacks_are_tried_in_order_after_the_primarys_retries(start, faulty, http):
    faulty.always(SECRET["a"], Fault(status=503))
    gw = await start(with_backup(faulty.base_url, max_retries=1))
    body = {**CHAT, "fallbacks": ["backup/gpt-4o", "openai/gpt-4o"]}
    status, headers, raw = await post(http, gw.chat_url, body)
    assert status == 200
    assert (headers["x-bifrost-provider"], headers["x-bifrost-model"], headers["x-bifrost-attempts"]) == \
        ("backup", "gpt-4o", "3")
    assert [(c.key, c.model) for c in faulty.calls] == [
        (SECRET["a"], "gpt-4o-mini"), (SECRET["a"], "gpt-4o-mini"), (SECRET["b"], "gpt-4o")]
    for value in SECRET.values():
        assert value not in str(headers)


async def test_the_providers_per_model_fallbacks_apply_unless_the_request_names_its_own(start, faulty, http):
    faulty.always(SECRET["a"], Fault(status=500))
    cfg = with_backup(faulty.base_url)
    cfg["providers"]["openai"]["fallbacks"] = {"gpt-4o-mini": ["backup/gpt-4o-mini"]}
    gw = await start(cfg)
    status, headers, _ = await post(http, gw.chat_url, CHAT)
    assert status == 200 and headers["x-bifrost-provider"] == "backup"
    status, _, _ = await post(http, gw.chat_url, {**CHAT, "fallbacks": []})
    assert status == 500
    assert faulty.counts() == Counter({SECRET["a"]: 2, SECRET["b"]: 1})


async def test_when_every_target_fails_the_primarys_error_is_answered(start, faulty, http):
    faulty.always(SECRET["a"], Fault(status=429, retry_after="7", error_type="rate_limit_error",
                                     error_message="primary is rate limited"))
    faulty.always(SECRET["b"], Fault(status=500, error_message="backup is down"))
    gw = await start(with_backup(faulty.base_url))
    status, headers, raw = await post(http, gw.chat_url, {**CHAT, "fallbacks": ["backup/gpt-4o-mini"]})
    assert status == 429 and headers["Retry-After"] == "7"
    assert error_of(raw)["message"] == "primary is rate limited"
    assert headers["x-bifrost-attempts"] == "2"


async def test_a_stream_that_hangs_before_its_first_byte_falls_back(start, faulty, http):
    faulty.always(SECRET["a"], Fault(hang=True))
    gw = await start(with_backup(faulty.base_url, default_request_timeout_in_seconds=0.3))
    body = {**CHAT, "stream": True, "fallbacks": ["backup/gpt-4o-mini"]}
    status, headers, raw = await post(http, gw.chat_url, body)
    assert status == 200 and headers["x-bifrost-provider"] == "backup"
    assert raw == STREAM_BYTES
    assert faulty.counts() == Counter({SECRET["a"]: 1, SECRET["b"]: 1})


# ---------------------------------------------------------------- streams: before and after the first event


BEFORE_FIRST_EVENT = {
    "error status": Fault(status=503),
    "connect reset": Fault(reset=True),
    "overloaded event first": Fault(error_event="overloaded_error"),
    "rate-limit event first": Fault(error_event="rate_limit_error"),
    "cut inside the first event": Fault(reset_after=0),
}


@pytest.mark.parametrize("name", BEFORE_FIRST_EVENT)
async def test_a_stream_failing_before_its_first_event_is_retried(start, faulty, http, name):
    faulty.script(SECRET["a"], BEFORE_FIRST_EVENT[name])
    gw = await start(config(faulty.base_url, max_retries=1))
    status, headers, raw = await post(http, gw.chat_url, {**CHAT, "stream": True})
    assert status == 200 and headers["x-bifrost-attempts"] == "2"
    assert raw == STREAM_BYTES
    assert faulty.count() == 2


@pytest.mark.parametrize("error_type, status", [("rate_limit_error", 429), ("overloaded_error", 503)])
async def test_an_error_event_first_when_retries_are_spent_is_a_status(start, faulty, http, error_type, status):
    faulty.always(SECRET["a"], Fault(error_event=error_type))
    faulty.always(SECRET["b"], Fault(error_event=error_type))
    gw = await start(config(faulty.base_url, {"a": 1.0, "b": 1.0}, max_retries=1))
    got, _, raw = await post(http, gw.chat_url, {**CHAT, "stream": True})
    assert got == status and error_of(raw)["message"] == f"injected {error_type}"
    assert error_event(error_type) not in raw and faulty.count() == 2


@pytest.mark.parametrize("fault", [Fault(reset_after=2), Fault(hang_after=2)], ids=["reset", "stall"])
async def test_a_stream_is_never_retried_or_fallen_back_after_its_first_event(start, faulty, http, fault):
    faulty.script(SECRET["a"], fault)
    gw = await start(with_backup(faulty.base_url, max_retries=3, stream_idle_timeout_in_seconds=0.3,
                                 stream_keepalive_interval_in_seconds=0))
    body = {**CHAT, "stream": True, "fallbacks": ["backup/gpt-4o-mini"]}
    status, headers, raw = await post(http, gw.chat_url, body)
    assert status == 200 and headers["x-bifrost-attempts"] == "1"
    events = events_of(raw)
    assert events[:2] == STREAM_WITHOUT_USAGE[:2] and len(events) == 3
    assert "error" in orjson.loads(events[2].removeprefix(b"data: "))
    assert b"[DONE]" not in raw
    assert faulty.count() == 1  # neither retried nor fallen back


# ---------------------------------------------------------------- back-pressure


def limited(base_url: str, concurrency: int, buffer_size: int, drop: bool, **network: Any) -> dict[str, Any]:
    cfg = config(base_url, **network)
    cfg["providers"]["openai"]["concurrency_and_buffer_size"] = {"concurrency": concurrency,
                                                                 "buffer_size": buffer_size}
    cfg["client"] = {"drop_excess_requests": drop}
    return cfg


async def test_at_most_concurrency_requests_reach_the_upstream(start, faulty, http):
    faulty.always(SECRET["a"], Fault(hold=True))
    gw = await start(limited(faulty.base_url, 3, 100, False))
    tasks = [asyncio.create_task(post(http, gw.chat_url, CHAT)) for _ in range(10)]
    await asyncio.wait_for(faulty.wait_calls(3), 5)
    await until(lambda: gw.limiter().waiting == 7)
    assert faulty.count() == 3 and faulty.in_flight == 3
    faulty.gate.set()
    results = await asyncio.gather(*tasks)
    assert [r[0] for r in results] == [200] * 10
    assert faulty.peak_in_flight == 3 and faulty.count() == 10
    assert gw.limiter().in_flight == 0


async def test_queue_overflow_answers_429_at_once_while_in_flight_requests_complete(start, faulty, http):
    faulty.always(SECRET["a"], Fault(hold=True))
    gw = await start(limited(faulty.base_url, 2, 1, True))
    held = [asyncio.create_task(post(http, gw.chat_url, CHAT)) for _ in range(3)]
    await asyncio.wait_for(faulty.wait_calls(2), 5)
    await until(lambda: gw.limiter().waiting == 1)
    for _ in range(3):
        status, headers, raw = await post(http, gw.chat_url, CHAT)
        error = error_of(raw)
        assert status == 429 and error["code"] == "queue_full" and error["type"] == "rate_limit_error"
        assert "2 in flight, 1 waiting" in error["message"]
    assert faulty.count() == 2
    faulty.gate.set()
    assert [r[0] for r in await asyncio.gather(*held)] == [200] * 3
    assert faulty.count() == 3


async def test_without_drop_excess_a_full_queue_waits_and_the_wait_counts_against_the_timeout(start, faulty, http):
    # a stream past its first event holds its place beyond the first-byte timeout
    faulty.script_tag("held", Fault(gate_after=1))
    gw = await start(limited(faulty.base_url, 1, 0, False, default_request_timeout_in_seconds=0.5))
    first = asyncio.create_task(post(http, gw.chat_url, {**CHAT, "user": "held", "stream": True}))
    await asyncio.wait_for(faulty.wait_calls(1), 5)
    began = time.monotonic()
    status, headers, raw = await post(http, gw.chat_url, CHAT)
    assert 0.4 <= time.monotonic() - began < 3
    assert status == 504 and error_of(raw)["code"] == "queue_timeout"
    assert faulty.count() == 1
    faulty.gate.set()
    assert (await first)[0] == 200


async def test_a_client_leaving_while_queued_frees_its_place_at_once(start, faulty, http):
    faulty.script_tag("held", Fault(hold=True))
    gw = await start(limited(faulty.base_url, 1, 5, True))
    first = asyncio.create_task(post(http, gw.chat_url, {**CHAT, "user": "held"}))
    await asyncio.wait_for(faulty.wait_calls(1), 5)
    _, writer = await raw_request(gw.base, {**CHAT, "user": "leaver"})
    await until(lambda: gw.limiter().waiting == 1)
    hang_up(writer)
    await until(lambda: gw.limiter().waiting == 0, timeout=1)
    faulty.gate.set()
    assert (await first)[0] == 200
    assert (await post(http, gw.chat_url, {**CHAT, "user": "after"}))[0] == 200
    assert [c.tag for c in faulty.calls] == ["held", "after"]  # the leaver never reached the upstream
    assert gw.limiter().in_flight == 0


async def test_a_client_leaving_cancels_its_upstream_call(start, faulty, http):
    faulty.always(SECRET["a"], Fault(hang=True))
    gw = await start(config(faulty.base_url))
    _, writer = await raw_request(gw.base, CHAT)
    await asyncio.wait_for(faulty.wait_calls(1), 5)
    assert gw.limiter().in_flight == 1
    hang_up(writer)
    await asyncio.wait_for(faulty.wait_gone(1), 5)
    await until(lambda: gw.limiter().in_flight == 0, timeout=1)


async def test_a_client_leaving_cancels_a_pending_retry(start, faulty, http):
    faulty.script(SECRET["a"], Fault(status=429, retry_after="5", error_type="rate_limit_error"))
    gw = await start(config(faulty.base_url, max_retries=3, default_request_timeout_in_seconds=30))
    _, writer = await raw_request(gw.base, CHAT)
    await asyncio.wait_for(faulty.wait_calls(1), 5)
    # the retry now waits 5 s for the key's Retry-After, holding the provider's place
    await until(lambda: faulty.calls[0].finished and gw.limiter().in_flight == 1)
    hang_up(writer)
    await until(lambda: gw.limiter().in_flight == 0, timeout=1)
    assert faulty.count() == 1


async def test_a_client_leaving_mid_stream_closes_the_upstream(start, faulty, http):
    faulty.always(SECRET["a"], Fault(events=100_000, event_size=1024))
    gw = await start(config(faulty.base_url))
    reader, writer = await raw_request(gw.base, {**CHAT, "stream": True})
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    await reader.readexactly(4096)
    hang_up(writer)
    await asyncio.wait_for(faulty.wait_gone(1), 5)
    assert faulty.calls[0].events_sent < 100_000
    await until(lambda: gw.limiter().in_flight == 0, timeout=1)


# ---------------------------------------------------------------- across wire types


@pytest.fixture
async def fake_anthropic(serve_app) -> FakeAnthropic:
    fake = FakeAnthropic()
    fake.base_url = await serve_app(fake.app)
    return fake


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_a_fallback_chain_from_openai_to_anthropic(start, faulty, fake_anthropic, http, stream):
    faulty.always(SECRET["a"], Fault(status=503, error_type="server_error"))
    cfg = config(faulty.base_url, max_retries=1)
    cfg["providers"]["anthropic"] = {"keys": [{"name": "c", "value": SECRET["c"]}],
                                     "network_config": {"base_url": fake_anthropic.base_url}}
    gw = await start(cfg)
    body = {**CHAT, "stream": stream, "fallbacks": ["anthropic/claude-3-5-haiku-latest"]}
    status, headers, raw = await post(http, gw.chat_url, body)
    assert status == 200
    assert (headers["x-bifrost-provider"], headers["x-bifrost-model"], headers["x-bifrost-attempts"]) == \
        ("anthropic", "claude-3-5-haiku-latest", "3")
    assert faulty.count() == 2 and len(fake_anthropic.calls) == 1
    seen = fake_anthropic.calls[0]
    assert seen.key == SECRET["c"] and seen.body["model"] == "claude-3-5-haiku-latest"
    assert "fallbacks" not in seen.body
    if stream:
        events = events_of(raw)
        assert events[-1] == b"data: [DONE]\n\n"
        chunks = [orjson.loads(e.removeprefix(b"data: ")) for e in events[:-1]]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    else:
        answer = orjson.loads(raw)
        assert answer["object"] == "chat.completion" and answer["choices"][0]["message"]["content"]


# ---------------------------------------------------------------- the point of no return


@pytest.mark.parametrize("failure", [ConnectionResetError("the client went away at the last write"),
                                     UpstreamError("a relay bug let an upstream error escape")],
                         ids=["client gone", "escaped error"])
async def test_nothing_is_retried_or_answered_again_once_a_stream_is_committed(start, faulty, http, monkeypatch,
                                                                               failure):
    """A failure that escapes the relay after the 200 went out must neither retry (a wasted upstream call
    whose answer would be written after the first one) nor become a second response."""

    async def failing_relay(request, upstream, decoder, first, network, provider, headers, key=None):
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        await response.write(first[0])
        raise failure

    monkeypatch.setattr(dispatch_module, "relay_stream", failing_relay)
    gw = await start(with_backup(faulty.base_url, max_retries=3))
    body = {**CHAT, "stream": True, "fallbacks": ["backup/gpt-4o-mini"]}
    async with asyncio.timeout(10), http.post(gw.chat_url, json=body) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()  # cut: the chunked body never ends, and no second status line follows
    assert faulty.count() == 1
