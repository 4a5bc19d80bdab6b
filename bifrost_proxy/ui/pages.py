"""The dashboard's routes under ``/ui/``: the page, its files, the login form, the event stream.

Every answer carries a strict Content-Security-Policy (scripts and styles from ``/ui/static/`` only, no
inline code, no framing), so a model name or route a client made up can never run as script, even if it
slipped into the page as text. Bad input gets a 4xx a person can act on.
"""
from __future__ import annotations

from typing import Mapping
from urllib.parse import parse_qs

import orjson
from aiohttp import web

from bifrost_proxy.appkeys import DASHBOARD
from bifrost_proxy.ui import auth
from bifrost_proxy.ui.assets import Asset
from bifrost_proxy.ui.events import events, snapshot

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make browsers post the login form with Origin: null
}
NO_STORE = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
MAX_LOGIN_BODY = 4096
LOCAL_ONLY = ("the dashboard answers loopback clients only while governance.admin_key is unset; open it on "
              "the gateway's host (or through an SSH tunnel), or set governance.admin_key to log in from anywhere")


def _json_error(status: int, message: str, code: str) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": None}}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=NO_STORE)


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={**NO_STORE, "Location": location})


def _refused(request: web.Request, *, page: bool) -> web.StreamResponse:
    """Why this request may not see the dashboard: a login form to go to, or a 403 saying what to do."""
    if auth.admin_key(request.app) is None:
        return _json_error(403, LOCAL_ONLY, "dashboard_local_only")
    if page:
        return _see_other("/ui/login")
    return _json_error(401, "log in at /ui/login, or send the admin key as Authorization: Bearer",
                       "admin_key_required")


def _asset(request: web.Request, name: str, *, extra: Mapping[str, str] = SECURITY_HEADERS) -> web.Response:
    asset: Asset | None = request.app[DASHBOARD].assets.get(name)
    if asset is None:
        return _json_error(404, f"no dashboard file {name[:100]!r}", "unknown_route")
    headers = {**extra, "ETag": asset.etag}
    if "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-cache"  # revalidate: a 304 costs nothing, a stale script after an upgrade does
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers={**headers, "Content-Type": asset.content_type})


async def index(request: web.Request) -> web.StreamResponse:
    if not auth.authorized(request):
        return _refused(request, page=True)
    return _asset(request, "index.html", extra=NO_STORE)


async def to_index(request: web.Request) -> web.StreamResponse:
    return web.Response(status=308, headers={"Location": "/ui/"})


async def static(request: web.Request) -> web.StreamResponse:
    # the page's code and the chart library are the same for everyone (and needed by the login form)
    return _asset(request, request.match_info["name"])


async def event_stream(request: web.Request) -> web.StreamResponse:
    if not auth.authorized(request):
        return _refused(request, page=False)
    return await events(request)


async def snapshot_json(request: web.Request) -> web.StreamResponse:
    """``GET /ui/api/snapshot``: what the page starts from, as one JSON document (for scripts)."""
    if not auth.authorized(request):
        return _refused(request, page=False)
    return web.Response(body=orjson.dumps(await snapshot(request.app)), content_type="application/json",
                        headers=NO_STORE)


async def session(request: web.Request) -> web.StreamResponse:
    """``GET /ui/api/session``: 204 while this client may see the dashboard; else why not (401/403)."""
    if not auth.authorized(request):
        return _refused(request, page=False)
    return web.Response(status=204, headers=NO_STORE)


async def login_page(request: web.Request) -> web.StreamResponse:
    if auth.admin_key(request.app) is None:
        return _see_other("/ui/")
    return _asset(request, "login.html", extra=NO_STORE)


async def login(request: web.Request) -> web.StreamResponse:
    key = auth.admin_key(request.app)
    if key is None:
        return _see_other("/ui/")
    if not auth.same_origin(request):
        return _json_error(403, "the login form must be posted from this gateway's own page", "cross_origin")
    if request.content_type != "application/x-www-form-urlencoded":
        return _json_error(400, "post the login form: application/x-www-form-urlencoded with admin_key",
                           "bad_login_form")
    body = bytearray()
    async for chunk in request.content.iter_chunked(MAX_LOGIN_BODY):
        body += chunk
        if len(body) > MAX_LOGIN_BODY:
            return _json_error(413, "the login form is larger than a login form can be", "login_too_large")
    try:
        given = parse_qs(body.decode("utf-8", "replace"), max_num_fields=8).get("admin_key", [""])[0]
    except ValueError:
        return _json_error(400, "the login form has too many fields; send admin_key only", "bad_login_form")
    if not auth.key_matches(key, given):
        return _see_other("/ui/login?failed=1")
    response = _see_other("/ui/")
    auth.set_session(request, response, key)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    if not auth.same_origin(request):
        return _json_error(403, "log out from this gateway's own page", "cross_origin")
    response = _see_other("/ui/login" if auth.admin_key(request.app) else "/ui/")
    auth.clear_session(request, response)
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/ui", to_index)
    router.add_get("/ui/", index)
    router.add_get("/ui/events", event_stream, allow_head=False)
    router.add_get("/ui/api/session", session)
    router.add_get("/ui/api/snapshot", snapshot_json)
    router.add_get("/ui/login", login_page)
    router.add_post("/ui/login", login)
    router.add_post("/ui/logout", logout)
    router.add_get("/ui/static/{name:.+}", static)
