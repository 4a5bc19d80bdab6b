"""Who may see the dashboard.

- With ``governance.admin_key`` set: a session from the login form (a cookie: ``HttpOnly``,
  ``SameSite=Strict``, ``Path=/ui/``, ``Secure`` over https), or the admin key itself for scripts, as
  ``Authorization: Bearer`` or as a Basic password (the admin API's rule).
- Without one: loopback clients only. The peer and every ``X-Forwarded-For``/``X-Real-IP`` address must be
  loopback, so a proxy on this host that forwards the world to us does not make the world local.

The session cookie is ``expiry.signature``, the signature an HMAC-SHA256 of the expiry keyed with the admin
key: nothing is stored, every worker and instance with the same admin key accepts it, and changing the key
ends every session. The key itself never goes into a cookie, a page, or a log line.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

from aiohttp import web

from bifrost_proxy.appkeys import GOVERNANCE, RUNTIME
from bifrost_proxy.lifecycle.forwarded import is_trusted, parse_address, trusted_networks

SESSION_COOKIE = "bifrost_ui_session"
SESSION_SECONDS = 12 * 3600
COOKIE_PATH = "/ui/"
MAX_FORWARDED_HOPS = 32


def admin_key(app: web.Application) -> str | None:
    """``governance.admin_key`` from the running config, else the governance object's; None when unset."""
    governance_config = getattr(app[RUNTIME].current.config, "governance", None)
    key = getattr(governance_config, "admin_key", None) or getattr(app.get(GOVERNANCE), "admin_key", None)
    return key if isinstance(key, str) and key else None


def _signature(key: str, expiry: int) -> str:
    return hmac.new(key.encode(), f"bifrost-ui-session:{expiry}".encode(), hashlib.sha256).hexdigest()


def session_token(key: str, now: float | None = None) -> str:
    expiry = int((time.time() if now is None else now) + SESSION_SECONDS)
    return f"{expiry}.{_signature(key, expiry)}"


def valid_session(key: str, token: str | None, now: float | None = None) -> bool:
    if not token or token.count(".") != 1:
        return False
    expiry_text, signature = token.split(".")
    if not expiry_text.isdigit() or len(expiry_text) > 12:
        return False
    expiry = int(expiry_text)
    if expiry < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature, _signature(key, expiry))


def key_matches(key: str, given: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), key.encode())


def presented_key(request: web.Request) -> str | None:
    """The admin key sent as ``Authorization: Bearer KEY`` or as the password of Basic auth."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def is_loopback(value: str | None) -> bool:
    address = parse_address(value) if value else None
    return address is not None and address.is_loopback


def is_local(peer: str | None, forwarded: list[str]) -> bool:
    """The peer and every address it says it forwarded for are loopback addresses."""
    if not is_loopback(peer):
        return False
    hops = [hop for value in forwarded for hop in value.split(",")]
    if len(hops) > MAX_FORWARDED_HOPS:
        return False
    return all(is_loopback(hop.strip()) for hop in hops)


def request_is_local(request: web.Request) -> bool:
    headers = request.headers
    return is_local(request.remote, [*headers.getall("X-Forwarded-For", ()), *headers.getall("X-Real-IP", ())])


def authorized(request: web.Request) -> bool:
    key = admin_key(request.app)
    if key is None:
        return request_is_local(request)
    given = presented_key(request)
    if given is not None:
        return key_matches(key, given)
    return valid_session(key, request.cookies.get(SESSION_COOKIE))


def is_https(request: web.Request) -> bool:
    """TLS here, or at a trusted proxy that says so (``X-Forwarded-Proto``): then the cookie is ``Secure``."""
    if request.secure:
        return True
    trusted = request.app[RUNTIME].current.config.server.trusted_proxies
    peer = parse_address(request.remote or "")
    if not trusted or peer is None or not is_trusted(peer, trusted_networks(trusted)):
        return False
    return request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"


def set_session(request: web.Request, response: web.StreamResponse, key: str) -> None:
    response.set_cookie(SESSION_COOKIE, session_token(key), max_age=SESSION_SECONDS, path=COOKIE_PATH,
                        httponly=True, samesite="Strict", secure=is_https(request))


def clear_session(request: web.Request, response: web.StreamResponse) -> None:
    response.set_cookie(SESSION_COOKIE, "", max_age=0, path=COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=is_https(request))


def same_origin(request: web.Request) -> bool:
    """A form post from our own page: browsers send ``Origin`` on POST; a missing one (curl) is allowed."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    if "://" not in origin:  # "null": a sandboxed or file page
        return False
    # hosts without ports: a proxy may pass on "Host: name" for "https://name:8443"
    return _hostname(origin.split("://", 1)[1]) == _hostname(request.headers.get("Host", ""))


def _hostname(authority: str) -> str:
    if authority.startswith("["):
        return authority.partition("]")[0].lower() + "]"
    return authority.partition(":")[0].lower()

