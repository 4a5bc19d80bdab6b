"""The soak run: N requests through a real gateway, a share of them hitting injected faults.

Everything runs in this process on real sockets: the fault-injecting upstream (tests/fakes/faults.py), the
gateway app and an aiohttp client with ``concurrency`` requests in flight. Each faulty request is steered
by its own tag (the body's ``user`` field) and has one expected outcome: its status, how its stream ends,
who served it and exactly how many upstream calls it cost. The report counts:

- lost: requests that got no answer (a connection error) or not the answer their fault calls for;
- hung: requests with no complete answer within ``hang_after`` seconds;
- sockets leaked: sockets of this process after everything closed, minus those before it started;
- RSS growth: resident memory after the run minus after the warm-up.
"""
from __future__ import annotations

import asyncio
import gc
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from bifrost_proxy.app import make_app
from bifrost_proxy.serving import runner_for
from bifrost_proxy.appkeys import RUNTIME
from bifrost_proxy.config.load import parse_config
from tests.conftest import TEST_SECRETS
from tests.fakes.faults import Fault, FaultyOpenAI

# the test keys, so the conftest-level scans of logs and responses cover the soak too
SECRETS = TEST_SECRETS
DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of injected fault and what the client must see for it."""

    name: str
    faults: tuple[Fault, ...]
    status: int
    calls: int  # upstream calls the request costs, retries and fallbacks included
    stream: bool | None = None  # None: either
    model: str = "openai/gpt-4o-mini"
    fallbacks: bool = False
    provider: str = "openai"  # x-bifrost-provider of a 200
    complete: bool = True  # a 200 stream ends with [DONE] (else with exactly one error event)


NORMAL = Kind("normal", (), 200, 1)
KINDS = (
    Kind("retried 500", (Fault(status=500),), 200, 2),
    Kind("retried connection reset", (Fault(reset=True),), 200, 2),
    Kind("retried 429", (Fault(status=429, retry_after="0", error_type="rate_limit_error"),), 200, 2),
    Kind("retried error event first", (Fault(error_event="overloaded_error"),), 200, 2, stream=True),
    Kind("retried cut before first event", (Fault(reset_after=0),), 200, 2, stream=True),
    Kind("retries spent", (Fault(status=503),) * 3, 503, 3),
    Kind("fell back", (Fault(status=503),) * 3, 200, 4, fallbacks=True, provider="backup"),
    Kind("bad request", (Fault(status=400, error_type="invalid_request_error"),), 400, 1),
    Kind("first-byte timeout", (Fault(hang=True),), 504, 1, model="hasty/gpt-4o-mini"),
    Kind("reset mid-stream", (Fault(reset_after=2),), 200, 1, stream=True, complete=False),
    Kind("stalled mid-stream", (Fault(hang_after=2),), 200, 1, stream=True, model="hasty/gpt-4o-mini",
         provider="hasty", complete=False),
)


@dataclass(frozen=True, slots=True)
class SoakSettings:
    requests: int = 2000
    concurrency: int = 64
    fault_rate: float = 0.2
    seed: int = 6
    hang_after: float = 15.0  # a request without a whole answer by then is hung
    warmup: float = 0.05  # share of requests before the RSS baseline is taken


@dataclass
class SoakReport:
    settings: SoakSettings
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    hung: int = 0
    sockets_before: int = 0
    sockets_after: int = 0
    fds_before: int = 0
    fds_after: int = 0
    rss_start_kb: int = 0
    rss_end_kb: int = 0
    upstream_calls: int = 0
    left_in_flight: int = 0  # gateway provider places and upstream handlers still taken after the run

    @property
    def sockets_leaked(self) -> int:
        return max(0, self.sockets_after - self.sockets_before)

    @property
    def rss_growth_mb(self) -> float:
        return (self.rss_end_kb - self.rss_start_kb) / 1024

    @property
    def clean(self) -> bool:
        return not self.lost and not self.hung and not self.sockets_leaked and not self.left_in_flight

    def render(self) -> str:
        s = self.settings
        faulty = sum(n for k, n in self.outcomes.items() if k != NORMAL.name)
        lines = [
            f"soak: {s.requests} requests, {s.concurrency} concurrent, {faulty} with injected faults "
            f"({faulty / max(1, s.requests):.0%}), {self.seconds:.1f} s ({s.requests / max(self.seconds, 1e-9):.0f}/s)",
            f"  lost:            {len(self.lost)}",
            f"  hung:            {self.hung}",
            f"  sockets leaked:  {self.sockets_leaked} (sockets {self.sockets_before} -> {self.sockets_after}, "
            f"fds {self.fds_before} -> {self.fds_after})",
            f"  left in flight:  {self.left_in_flight}",
            f"  RSS growth:      {self.rss_growth_mb:+.1f} MB ({self.rss_start_kb / 1024:.1f} -> "
            f"{self.rss_end_kb / 1024:.1f} MB after warm-up)",
            f"  upstream calls:  {self.upstream_calls}",
            "  outcomes:        " + ", ".join(f"{k} {n}" for k, n in sorted(self.outcomes.items())),
        ]
        lines += [f"  LOST: {reason}" for reason in self.lost[:20]]
        lines.append("result: " + ("clean" if self.clean else "FAILED"))
        return "\n".join(lines)


def gateway_config(upstream: str) -> dict[str, Any]:
    network = {"base_url": upstream, "max_retries": 2, "retry_backoff_initial": 1, "retry_backoff_max": 10,
               "default_request_timeout_in_seconds": 10, "stream_keepalive_interval_in_seconds": 0}
    hasty = {**network, "default_request_timeout_in_seconds": 1.0, "stream_idle_timeout_in_seconds": 0.3}
    return {"providers": {
        "openai": {"keys": [{"name": "a", "value": SECRETS[0], "weight": 3}, {"name": "b", "value": SECRETS[1]}],
                   "network_config": network},
        "backup": {"type": "openai", "keys": [{"name": "c", "value": SECRETS[2]}], "network_config": network},
        "hasty": {"type": "openai", "keys": [{"name": "c", "value": SECRETS[2]}], "network_config": hasty},
    }}


def plan_requests(settings: SoakSettings) -> list[tuple[str, Kind, bool]]:
    """(tag, kind, stream) for every request, faulty ones spread evenly, reproducible from the seed."""
    rng = random.Random(settings.seed)
    planned = []
    for i in range(settings.requests):
        kind = KINDS[rng.randrange(len(KINDS))] if rng.random() < settings.fault_rate else NORMAL
        stream = kind.stream if kind.stream is not None else rng.random() < 0.5
        planned.append((f"soak-{i}", kind, stream))
    return planned


def socket_and_fd_counts() -> tuple[int, int]:
    fds = os.listdir("/proc/self/fd")
    sockets = 0
    for fd in fds:
        try:
            sockets += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # closed between listdir and readlink (the listing's own fd)
    return sockets, len(fds)


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def _serve(app: web.Application, runners: list[web.AppRunner]) -> str:
    runner = runner_for(app, handler_cancellation=True, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    runners.append(runner)
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


def check(kind: Kind, stream: bool, status: int, headers: Any, raw: bytes) -> str | None:
    """Why this answer is not the one ``kind`` calls for; None when it is."""
    if status != kind.status:
        return f"status {status}, expected {kind.status}: {raw[:200]!r}"
    if status >= 400:
        error = orjson.loads(raw).get("error")
        if not isinstance(error, dict) or set(error) != {"message", "type", "code", "param"}:
            return f"error body not in the contract's shape: {raw[:200]!r}"
        return None
    if headers.get("x-bifrost-provider") != kind.provider:
        return f"served by {headers.get('x-bifrost-provider')}, expected {kind.provider}"
    if not stream:
        return None if "choices" in orjson.loads(raw) else f"not a completion: {raw[:200]!r}"
    if kind.complete:
        return None if raw.endswith(DONE) else f"stream without [DONE]: {raw[-200:]!r}"
    events = [e for e in raw.split(b"\n\n") if e]
    if DONE in raw or not events or b'"error"' not in events[-1] or sum(b'"error"' in e for e in events) != 1:
        return f"a failed stream must end with exactly one error event and no [DONE]: {raw[-200:]!r}"
    return None


async def run_soak(settings: SoakSettings) -> SoakReport:
    report = SoakReport(settings)
    gc.collect()
    report.sockets_before, report.fds_before = socket_and_fd_counts()
    runners: list[web.AppRunner] = []
    fake = FaultyOpenAI()
    planned = plan_requests(settings)
    for tag, kind, _ in planned:
        if kind.faults:
            fake.script_tag(tag, *kind.faults)
    try:
        upstream = await _serve(fake.app, runners)
        app = make_app(parse_config(gateway_config(upstream), "<soak>", {}))
        base = await _serve(app, runners)
        url = f"{base}/v1/chat/completions"
        connector = aiohttp.TCPConnector(limit=settings.concurrency)
        async with aiohttp.ClientSession(connector=connector) as client:
            queue: asyncio.Queue[tuple[int, str, Kind, bool]] = asyncio.Queue()
            for i, item in enumerate(planned):
                queue.put_nowait((i, *item))
            warmup = int(settings.requests * settings.warmup)
            baseline = asyncio.Event()
            done = 0

            async def one(tag: str, kind: Kind, stream: bool) -> None:
                body: dict[str, Any] = {"model": kind.model, "messages": [{"role": "user", "content": "hi"}],
                                        "stream": stream, "user": tag}
                if kind.fallbacks:
                    body["fallbacks"] = ["backup/gpt-4o-mini"]
                try:
                    async with asyncio.timeout(settings.hang_after):
                        async with client.post(url, json=body) as resp:
                            raw = await resp.read()
                            problem = check(kind, stream, resp.status, resp.headers, raw)
                except TimeoutError:
                    report.hung += 1
                    return
                except (aiohttp.ClientError, OSError) as exc:
                    problem = f"no answer: {type(exc).__name__}: {exc}"
                report.outcomes[kind.name] += 1
                if problem is not None:
                    report.lost.append(f"{tag} ({kind.name}, stream={stream}): {problem}")

            async def worker() -> None:
                nonlocal done
                while not queue.empty():
                    _, tag, kind, stream = queue.get_nowait()
                    await one(tag, kind, stream)
                    done += 1
                    if done == warmup:
                        baseline.set()

            began = time.monotonic()
            workers = [asyncio.create_task(worker()) for _ in range(settings.concurrency)]
            if warmup:
                await baseline.wait()
            report.rss_start_kb = rss_kb()
            await asyncio.gather(*workers)
            report.seconds = time.monotonic() - began
        report.rss_end_kb = rss_kb()
        for tag, kind, stream in planned:
            calls = len(fake.for_tag(tag))
            if calls != kind.calls:
                report.lost.append(f"{tag} ({kind.name}, stream={stream}): {calls} upstream calls, "
                                   f"expected {kind.calls}")
        report.upstream_calls = len(fake.calls)
        # give upstream handlers whose connection the gateway closed a moment to notice
        for _ in range(100):
            in_flight = fake.in_flight + sum(p.limiter.in_flight for p in app[RUNTIME].current.providers.values())
            if not in_flight:
                break
            await asyncio.sleep(0.01)
        report.left_in_flight = in_flight
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
    await asyncio.sleep(0.05)  # closed transports are released on the next loop iterations
    gc.collect()
    report.sockets_after, report.fds_after = socket_and_fd_counts()
    return report
