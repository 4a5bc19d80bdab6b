"""Make docs/dashboard.png: the gateway against fake upstreams, a few minutes of mixed traffic, one screenshot.

    python docs/dashboard_screenshot.py [--seconds 120] [--out docs/dashboard.png]

Everything runs on 127.0.0.1 in this process (the gateway app, the fake OpenAI-compatible upstream from
tests/fakes, a fake governance object for the virtual keys panel) and Debian's chromium draws the page.
The traffic: steady chat calls and streams to three providers, a burst now and then, upstream errors that
fall back, and one key rate limited so the providers panel shows a key cooling down.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from playwright.async_api import async_playwright  # noqa: E402

from tests.fakes.dashboard import ADMIN_KEY, FakeGovernance, start_gateway  # noqa: E402
from tests.fakes.openai import FakeOpenAI, Reply  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def config(base_url: str) -> dict:
    net = {"base_url": base_url}
    return {"providers": {
        "openai": {"keys": [{"name": "prod-1", "value": "sk-demo-1", "models": ["gpt-4o-mini", "gpt-4o"]},
                            {"name": "prod-2", "value": "sk-demo-2", "models": ["gpt-4o-mini", "gpt-4o"]},
                            {"name": "batch", "value": "sk-demo-3", "models": ["gpt-4o-batch"]}],
                   "network_config": net},
        "groq": {"type": "openai", "keys": [{"name": "groq-main", "value": "gsk-demo"}], "network_config": net},
        "local-vllm": {"type": "openai", "keys": [{"name": "none", "value": "unused"}], "network_config": net},
    }}


async def serve(runners: list[web.AppRunner], app: web.Application) -> str:
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    runners.append(runner)
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


async def one_call(http: aiohttp.ClientSession, base: str, rng: random.Random) -> None:
    provider, model = rng.choices([("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("groq", "llama-3.1-8b"),
                                   ("local-vllm", "qwen2.5-7b")], weights=[6, 2, 3, 1])[0]
    body = {"model": f"{provider}/{model}", "messages": [{"role": "user", "content": "hi"}],
            "stream": rng.random() < 0.5}
    if provider == "openai" and rng.random() < 0.1:
        body["fallbacks"] = ["groq/llama-3.1-8b"]
    try:
        async with http.post(f"{base}/v1/chat/completions", json=body) as resp:
            await resp.read()
    except aiohttp.ClientError:
        pass


async def traffic(http: aiohttp.ClientSession, base: str, fake: FakeOpenAI, seconds: float) -> None:
    rng = random.Random(14)
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks: set[asyncio.Task] = set()
    while (elapsed := loop.time() - start) < seconds:
        rate = 6 + 4 * math.sin(elapsed / 9) + (12 if 40 < elapsed % 60 < 46 else 0)  # calls per second
        if rng.random() < 0.04:
            fake.queue("gpt-4o-mini", Reply(status=503, error_message="overloaded", error_type="server_error"),
                       Reply(delay=rng.uniform(0.01, 0.06)))
        elif rng.random() < 0.3:
            fake.queue("gpt-4o-mini", Reply(delay=rng.uniform(0.01, 0.08)))
        if int(elapsed) == int(seconds * 0.7) and not fake.replies.get("gpt-4o-batch"):
            fake.queue("gpt-4o-batch", Reply(status=429, headers={"Retry-After": "600"}, error_type="rate_limit_error"))
            task = asyncio.ensure_future(http.post(f"{base}/v1/chat/completions", json={
                "model": "openai/gpt-4o-batch", "messages": [{"role": "user", "content": "hi"}]}))
            task.add_done_callback(lambda t: t.exception() or t.result().release())
        task = asyncio.ensure_future(one_call(http, base, rng))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await asyncio.sleep(rng.expovariate(rate))
    await asyncio.gather(*tasks)


async def main(seconds: float, out: Path, chromium: str) -> None:
    runners: list[web.AppRunner] = []
    fake = FakeOpenAI()
    fake.base_url = await serve(runners, fake.app)
    governance = FakeGovernance(ADMIN_KEY, request_limit=2000)

    async def serve_app(app: web.Application) -> str:
        return await serve(runners, app)

    base, _ = await start_gateway(serve_app, config(fake.base_url), governance)
    try:
        async with aiohttp.ClientSession() as http, async_playwright() as driver:
            browser = await driver.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1440, "height": 1000})
            await page.goto(f"{base}/ui/login")
            await page.fill("#admin-key", ADMIN_KEY)
            await page.click("#login button")
            await page.wait_for_url(f"{base}/ui/")
            running = asyncio.ensure_future(traffic(http, base, fake, seconds))
            await asyncio.sleep(seconds - 0.5)  # the picture is taken while the traffic still flows
            out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(out), full_page=True)
            await running
            await browser.close()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "dashboard.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.out, args.chromium))
