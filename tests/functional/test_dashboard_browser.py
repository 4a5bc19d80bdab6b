"""A real browser on the dashboard: Debian's chromium driven by Playwright against the gateway and its fakes.

Logs in with the admin key, sends traffic, and checks what an operator would look at: the charts draw the
traffic, the request table gains the new rows live, the filters narrow it, a rate-limited key shows as
cooling, a virtual key's spend rises, and one click shows a request's attempts. The page is kept as a
screenshot in ``$BIFROST_TEST_ARTIFACTS`` (default ``build/test-artifacts/``). CI installs chromium and
playwright (.ci/run, setup.cfg's ``test`` extra); without chromium this test skips.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from bifrost_proxy.app import make_app
from bifrost_proxy.appkeys import RECORDER
from bifrost_proxy.config.load import parse_config
from bifrost_proxy.ui.recorder import Recorder
from tests.conftest import TEST_SECRETS
from tests.fakes.dashboard import ADMIN_KEY, FakeGovernance, no_ui_secrets, start_gateway  # noqa: F401
from tests.fakes.openai import Reply

playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is in the test extra")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.usefixtures("no_ui_secrets"),
              pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                 reason="chromium is not installed (CI: apt-get install chromium)")]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("BIFROST_TEST_ARTIFACTS") or REPO / "build" / "test-artifacts")
WAIT_MS = 10_000
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}

# how many pixels of one colour a chart's canvas holds: a series drawn in that colour is on it
COLOR_PIXELS = """([selector, rgb]) => {
  const canvas = document.querySelector(selector);
  if (!canvas) return 0;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - rgb[0]) < 12 && Math.abs(data[i + 1] - rgb[1]) < 12
        && Math.abs(data[i + 2] - rgb[2]) < 12 && data[i + 3] > 200) count++;
  }
  return count;
}"""
BLUE, AMBER = (37, 99, 235), (217, 119, 6)  # requests/s; the latency chart's second provider (openai)


def config(base_url: str) -> dict[str, Any]:
    return {"providers": {
        "openai": {"keys": [{"name": "primary", "value": TEST_SECRETS[0], "models": ["gpt-4o-mini", "gpt-4o"]},
                            {"name": "second", "value": TEST_SECRETS[1], "models": ["gpt-4o-limited"]}],
                   "network_config": {"base_url": base_url}},
        "backup": {"type": "openai", "keys": [{"name": "backup-key", "value": TEST_SECRETS[2]}],
                   "network_config": {"base_url": base_url}},
    }}


async def send_traffic(http, base: str) -> None:
    for i in range(6):
        async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "stream": i % 2 == 0}) as resp:
            assert resp.status == 200
            await resp.read()
    for _ in range(3):
        async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "model": "backup/gpt-4o"}) as resp:
            assert resp.status == 200
    async with http.post(f"{base}/v1/chat/completions", json={**CHAT, "model": "openai/gpt-4o-limited"}) as resp:
        assert resp.status == 429


async def test_an_operator_watches_the_traffic_live(serve_app, fake_openai, http):
    expect = playwright_api.expect
    expect.set_options(timeout=WAIT_MS)
    fake_openai.queue("gpt-4o-limited", Reply(status=429, headers={"Retry-After": "300"}, error_type="rate_limit_error"))
    governance = FakeGovernance(ADMIN_KEY)
    base, _ = await start_gateway(serve_app, config(fake_openai.base_url), governance)
    problems: list[str] = []
    async with playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 1000})
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda message: message.type == "error" and problems.append(message.text))

            # the admin key is set: the page sends us to the login form, which keeps a strict session cookie
            await page.goto(f"{base}/ui/")
            assert page.url == f"{base}/ui/login"
            await page.fill("#admin-key", "not the key")
            await page.click("#login button")
            await expect(page.locator("#login-failed")).to_be_visible()
            await page.fill("#admin-key", ADMIN_KEY)
            await page.click("#login button")
            await page.wait_for_url(f"{base}/ui/")
            [cookie] = await page.context.cookies()
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and ADMIN_KEY not in cookie["value"]

            await expect(page.locator("#connection")).to_have_text("live")
            rows = page.locator("#request-rows tr")
            await expect(rows).to_have_count(0)
            budget = page.locator('#virtual-key-rows tr[data-key="team-a"] td.budget .usage')
            await expect(budget).to_have_text("0.000000 / 50.0000")
            assert await page.evaluate(COLOR_PIXELS, ["#chart-requests canvas", BLUE]) == 0

            await send_traffic(http, base)

            # the table gains the rows as they finish, without a reload
            await expect(rows).to_have_count(10)
            await expect(rows.first).to_have_attribute("data-status", "429")
            # the key the upstream rate limited is cooling, with why and until when; the other one serves
            second = page.locator('#provider-list [data-provider="openai"] li[data-key="second"]')
            await expect(second).to_have_attribute("data-state", "cooling")
            await expect(second.locator(".cooling")).to_contain_text("rate limited (429) until")
            primary = page.locator('#provider-list [data-provider="openai"] li[data-key="primary"]')
            await expect(primary).to_have_attribute("data-state", "serving")
            # the charts draw the traffic: requests/s in blue, openai's latency in its own colour
            await page.wait_for_function(f"() => ({COLOR_PIXELS})(['#chart-requests canvas', {list(BLUE)}]) > 20",
                                         timeout=WAIT_MS)
            await page.wait_for_function(f"() => ({COLOR_PIXELS})(['#chart-latency canvas', {list(AMBER)}]) > 5",
                                         timeout=WAIT_MS)
            # the virtual key's spend rises with the tokens served
            await expect(budget).not_to_have_text("0.000000 / 50.0000")
            spent = float((await budget.inner_text()).split("/")[0])
            assert spent == pytest.approx(governance.spent, abs=1e-3) and spent > 0

            # filters: by provider, by status, by key
            await page.select_option("#filter-provider", "backup")
            await expect(rows).to_have_count(3)
            assert set(await rows.evaluate_all("rs => rs.map(r => r.dataset.provider)")) == {"backup"}
            await page.select_option("#filter-provider", "")
            await page.select_option("#filter-status", "4xx")
            await expect(rows).to_have_count(1)
            await expect(rows.first.locator("td.status")).to_have_text("429")
            await page.select_option("#filter-status", "")
            await page.select_option("#filter-key", "backup-key")
            await expect(rows).to_have_count(3)
            await page.select_option("#filter-key", "")
            await expect(rows).to_have_count(10)

            # a new row arrives while a filter is on: it shows only if it matches
            await page.select_option("#filter-provider", "openai")
            await expect(rows).to_have_count(7)
            async with http.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
                assert resp.status == 200
            await expect(rows).to_have_count(8)
            await page.select_option("#filter-provider", "")

            # one click shows a request's attempts
            await page.locator('#request-rows tr[data-status="429"]').click()
            detail = page.locator("#request-detail")
            await expect(detail).to_be_visible()
            await expect(detail.locator("#detail-attempts li")).to_have_text(
                ["openai (key second): 429 rate_limit_error"])
            await detail.locator("button").click()
            await page.locator('#request-rows tr[data-provider="backup"]').first.click()
            await expect(detail.locator("#detail-attempts li")).to_have_text(["answered 200 by backup (key backup-key)"])
            await detail.locator("button").click()

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            content = await page.content()
        finally:
            await browser.close()
    assert ADMIN_KEY not in content and "Tell me a story" not in content
    assert not problems, problems


async def test_the_table_keeps_the_newest_rows_up_to_the_gateways_capacity(serve_app, fake_openai, http):
    expect = playwright_api.expect
    expect.set_options(timeout=WAIT_MS)
    app = make_app(parse_config(config(fake_openai.base_url), "<test>", {}))
    app[RECORDER] = Recorder(capacity=5)  # the page takes its capacity from the snapshot
    base = await serve_app(app)
    problems: list[str] = []
    async with playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            await page.goto(f"{base}/ui/")
            await expect(page.locator("#connection")).to_have_text("live")
            for i in range(8):
                async with http.post(f"{base}/v1/chat/completions", json=CHAT,
                                     headers={"X-Request-ID": f"req-{i}"}) as resp:
                    assert resp.status == 200
            rows = page.locator("#request-rows tr")
            await expect(rows).to_have_count(5)
            await expect(page.locator("#request-count")).to_have_text("5 of 5 shown")
            await rows.first.click()
            await expect(page.locator("#detail-id")).to_have_text("req-7")  # the newest on top
        finally:
            await browser.close()
    assert not problems, problems
