"""Who may see the dashboard, through real sockets: loopback only without an admin key; with one, the login
form's session cookie (HttpOnly, SameSite=Strict) or the key itself; bad input gets a 4xx that says why."""
from __future__ import annotations

import base64

import aiohttp
import pytest

from tests.conftest import openai_config
from tests.fakes.dashboard import ADMIN_KEY, EventReader, FakeGovernance, no_ui_secrets, start_gateway  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_ui_secrets")
PROTECTED = ("/ui/", "/ui/events", "/ui/api/snapshot", "/ui/api/session")
REMOTE = {"X-Forwarded-For": "203.0.113.50"}


async def test_without_an_admin_key_only_loopback_clients_get_in(serve_app, fake_openai, http):
    base, _ = await start_gateway(serve_app, openai_config(fake_openai.base_url))
    for path in PROTECTED:
        async with http.get(f"{base}{path}", headers=REMOTE, allow_redirects=False) as resp:
            assert resp.status == 403, path
            error = (await resp.json())["error"]
            assert error["code"] == "dashboard_local_only" and "governance.admin_key" in error["message"]
    async with http.get(f"{base}/ui/", headers={"X-Forwarded-For": "127.0.0.1"}) as resp:
        assert resp.status == 200  # a proxy on this host passing on a local client
    async with http.get(f"{base}/ui/api/session") as resp:
        assert resp.status == 204
    async with http.get(f"{base}/ui/static/dashboard.js", headers=REMOTE) as resp:
        assert resp.status == 200  # the page's code is the same for everyone; the data is not
    async with http.get(f"{base}/ui/login", allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/ui/"  # nothing to log in to


async def test_behind_a_trusted_proxy_the_forwarded_client_decides(serve_app, fake_openai, http):
    config = {**openai_config(fake_openai.base_url), "server": {"trusted_proxies": ["127.0.0.1"]}}
    base, _ = await start_gateway(serve_app, config)
    async with http.get(f"{base}/ui/api/snapshot", headers=REMOTE) as resp:
        assert resp.status == 403
    async with http.get(f"{base}/ui/api/snapshot", headers={"X-Forwarded-For": "::1"}) as resp:
        assert resp.status == 200


async def test_with_an_admin_key_the_login_form_gives_a_strict_session_cookie(serve_app, fake_openai):
    base, _ = await start_gateway(serve_app, openai_config(fake_openai.base_url), FakeGovernance(ADMIN_KEY))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(f"{base}/ui/", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/ui/login"
        async with browser.get(f"{base}/ui/events") as resp:
            assert resp.status == 401 and (await resp.json())["error"]["code"] == "admin_key_required"
        async with browser.get(f"{base}/ui/login") as resp:
            assert resp.status == 200 and 'name="admin_key"' in await resp.text()
        async with browser.post(f"{base}/ui/login", data={"admin_key": "wrong"}, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/ui/login?failed=1"
            assert "Set-Cookie" not in resp.headers
        async with browser.post(f"{base}/ui/login", data={"admin_key": ADMIN_KEY}, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/ui/"
            cookie = resp.headers["Set-Cookie"]
        attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
        assert "httponly" in attributes and attributes["samesite"] == "SameSite=Strict"
        assert attributes["path"] == "Path=/ui/" and "secure" not in attributes  # plain http here
        async with browser.get(f"{base}/ui/") as resp:
            assert resp.status == 200 and "static/dashboard.js" in await resp.text()
        async with browser.get(f"{base}/ui/events", headers=REMOTE) as resp:  # the session works from anywhere
            assert resp.status == 200
            snapshot = await EventReader(resp).until("snapshot")
            assert snapshot["admin_key_set"] is True
        async with browser.post(f"{base}/ui/logout", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/ui/login"
        async with browser.get(f"{base}/ui/api/session") as resp:
            assert resp.status == 401  # the cookie is gone from this browser


async def test_scripts_may_send_the_admin_key_itself(serve_app, fake_openai, http):
    base, _ = await start_gateway(serve_app, openai_config(fake_openai.base_url), FakeGovernance(ADMIN_KEY))
    basic = base64.b64encode(f"admin:{ADMIN_KEY}".encode()).decode()
    for header in (f"Bearer {ADMIN_KEY}", f"Basic {basic}"):
        async with http.get(f"{base}/ui/api/snapshot", headers={"Authorization": header, **REMOTE}) as resp:
            assert resp.status == 200
    for header in ("Bearer nope", f"Basic {base64.b64encode(b'admin:nope').decode()}", "Basic !!!", "Digest x"):
        async with http.get(f"{base}/ui/api/snapshot", headers={"Authorization": header}) as resp:
            assert resp.status == 401, header  # loopback is not enough once an admin key is set
    async with http.get(f"{base}/ui/api/snapshot", cookies={"bifrost_ui_session": "4102444800.forged"}) as resp:
        assert resp.status == 401


async def test_the_cookie_is_secure_when_a_trusted_proxy_terminated_tls(serve_app, fake_openai, http):
    config = {**openai_config(fake_openai.base_url), "server": {"trusted_proxies": ["127.0.0.1"]}}
    base, _ = await start_gateway(serve_app, config, FakeGovernance(ADMIN_KEY))
    async with http.post(f"{base}/ui/login", data={"admin_key": ADMIN_KEY}, allow_redirects=False,
                         headers={"X-Forwarded-Proto": "https"}) as resp:
        assert resp.status == 303
        assert "Secure" in resp.headers["Set-Cookie"]


async def test_a_bad_login_form_gets_a_4xx_that_says_why(serve_app, fake_openai, http):
    base, _ = await start_gateway(serve_app, openai_config(fake_openai.base_url), FakeGovernance(ADMIN_KEY))
    cases = [
        ({"json": {"admin_key": ADMIN_KEY}}, 400, "bad_login_form"),
        ({"data": "admin_key=" + "x" * 10000,
          "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 413, "login_too_large"),
        ({"data": "&".join(f"f{i}=1" for i in range(20)),
          "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 400, "bad_login_form"),
        ({"data": {"admin_key": ADMIN_KEY}, "headers": {"Origin": "https://evil.example"}}, 403, "cross_origin"),
        ({"data": {"admin_key": ADMIN_KEY}, "headers": {"Origin": "null"}}, 403, "cross_origin"),
    ]
    for options, status, code in cases:
        async with http.post(f"{base}/ui/login", allow_redirects=False, **options) as resp:
            assert resp.status == status, code
            error = (await resp.json())["error"]
            assert error["code"] == code and error["message"]
            assert "Set-Cookie" not in resp.headers
    async with http.post(f"{base}/ui/logout", headers={"Origin": "https://evil.example"}) as resp:
        assert resp.status == 403
    async with http.put(f"{base}/ui/login") as resp:
        assert resp.status == 405
