"""Google OAuth access tokens for Vertex AI, from a service-account key (or an ``authorized_user`` file).

Service account (https://developers.google.com/identity/protocols/oauth2/service-account#httprest): a JWT
``{"alg": "RS256", "typ": "JWT", "kid": private_key_id}.{"iss": client_email, "scope": ..., "aud":
token_uri, "iat": now, "exp": now + 3600}`` signed with the account's private key (RSASSA-PKCS1-v1_5,
SHA-256) is POSTed form-encoded as ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT``
to ``token_uri``, which answers ``{"access_token": ..., "expires_in": 3599, "token_type": "Bearer"}``.
An ``authorized_user`` file (``gcloud auth application-default login``) uses the refresh-token grant.

Everything here is pure except ``fetch_access_token`` (one POST on the session the core passes in) and
``AccessTokenCache.token`` (which calls it at most once per expiry, per credentials, however many
requests ask at once). Network failures (``aiohttp.ClientError``, timeouts) propagate to the caller:
dispatch runs this inside ``map_client_errors``. Answers of the token endpoint become ``GatewayError``s.
Nothing here puts a token, a key or an assertion into a message or a repr.
"""
from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

import orjson

from bifrost_proxy.errors import AuthenticationFailed, UpstreamError, from_upstream_status

TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600  # seconds; Google's maximum
REFRESH_MARGIN = 300.0  # a cached token is replaced this long before it expires


class CredentialsError(ValueError):
    """``auth_credentials`` cannot be used; the message names the field, never a value."""


@dataclass(frozen=True, slots=True)
class Credentials:
    type: str  # "service_account" or "authorized_user"
    token_uri: str
    client_email: str = ""
    private_key_id: str = ""
    private_key: str = field(default="", repr=False)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)


def parse_credentials(raw: str | Mapping[str, Any]) -> Credentials:
    """``auth_credentials`` (the JSON key file as a string, or as a mapping) -> ``Credentials``."""
    if isinstance(raw, (str, bytes)):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise CredentialsError("auth_credentials: not valid JSON (paste the whole key file)") from None
    else:
        data = raw
    if not isinstance(data, Mapping):
        raise CredentialsError("auth_credentials: must be a JSON object (the key file)")
    kind = data.get("type", "service_account")
    token_uri = str(data.get("token_uri") or TOKEN_URI)
    if kind == "service_account":
        needed = ("client_email", "private_key")
    elif kind == "authorized_user":
        needed = ("client_id", "client_secret", "refresh_token")
    else:
        raise CredentialsError("auth_credentials.type: must be service_account or authorized_user")
    missing = [name for name in needed if not isinstance(data.get(name), str) or not data.get(name)]
    if missing:
        raise CredentialsError(f"auth_credentials: missing {', '.join(missing)}")
    return Credentials(kind, token_uri, **{k: str(data.get(k) or "") for k in (
        "client_email", "private_key_id", "private_key", "client_id", "client_secret", "refresh_token")})


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def load_private_key(pem: str) -> Any:
    """The RSA key of a service account; raises ``CredentialsError`` (cryptography is the ``vertex`` extra)."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:
        raise CredentialsError("auth_credentials: service accounts need the cryptography package "
                               "(pip install 'bifrost-proxy[vertex]')") from None
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise CredentialsError("auth_credentials.private_key: not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialsError("auth_credentials.private_key: must be an RSA key")
    return key


def build_assertion(creds: Credentials, now: float, scope: str = SCOPE) -> str:
    """The signed RS256 JWT a service account exchanges for an access token."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = {"alg": "RS256", "typ": "JWT"}
    if creds.private_key_id:
        header["kid"] = creds.private_key_id
    iat = int(now)
    claims = {"iss": creds.client_email, "scope": scope, "aud": creds.token_uri, "iat": iat,
              "exp": iat + ASSERTION_LIFETIME}
    signing_input = _b64url(orjson.dumps(header)) + b"." + _b64url(orjson.dumps(claims))
    signature = load_private_key(creds.private_key).sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return (signing_input + b"." + _b64url(signature)).decode("ascii")


def token_request(creds: Credentials, now: float) -> tuple[str, bytes]:
    """``(url, form body)`` of the token exchange for ``creds``."""
    if creds.type == "authorized_user":
        form = {"grant_type": "refresh_token", "client_id": creds.client_id,
                "client_secret": creds.client_secret, "refresh_token": creds.refresh_token}
    else:
        form = {"grant_type": JWT_BEARER, "assertion": build_assertion(creds, now)}
    return creds.token_uri, urlencode(form).encode("ascii")


def parse_token_response(status: int, body: bytes, now: float) -> tuple[str, float]:
    """``(access_token, expires_at)`` from the token endpoint's answer, or the ``GatewayError`` it means."""
    try:
        obj = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        obj = None
    if status >= 400:
        # OAuth errors: {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        error = obj.get("error") if isinstance(obj, dict) else None
        description = obj.get("error_description") if isinstance(obj, dict) else None
        detail = error if isinstance(error, str) else f"HTTP {status}"
        if isinstance(description, str) and description:
            detail = f"{detail}: {description}"
        message = f"the Google token endpoint refused the Vertex credentials ({detail})"
        if status in (400, 401) and error in ("invalid_grant", "invalid_client", "unauthorized_client", None):
            raise AuthenticationFailed(message, code="vertex_token_refused")
        raise from_upstream_status(status, message, code="vertex_token_error")
    token = obj.get("access_token") if isinstance(obj, dict) else None
    if not isinstance(token, str) or not token:
        raise UpstreamError("the Google token endpoint answered without an access_token",
                            code="malformed_upstream_response")
    expires_in = obj.get("expires_in", 3600)
    if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool):
        expires_in = 3600
    return token, now + float(expires_in)


async def fetch_access_token(session: Any, credentials: Credentials | str | Mapping[str, Any], *,
                             clock: Callable[[], float] = time.time) -> tuple[str, float]:
    """Exchange ``credentials`` for ``(access_token, expires_at)`` with one POST on ``session``.

    ``session`` is the app's ``aiohttp.ClientSession``; ``expires_at`` is on ``clock``'s scale (Unix time).
    Raises ``CredentialsError`` for unusable credentials, ``GatewayError`` for a refusal or a bad answer;
    network errors propagate as aiohttp raises them.
    """
    creds = credentials if isinstance(credentials, Credentials) else parse_credentials(credentials)
    now = clock()
    url, form = token_request(creds, now)
    async with session.post(url, data=form, allow_redirects=False,
                            headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
        body = await resp.read()
        return parse_token_response(resp.status, body, now)


class _Entry:
    __slots__ = ("creds", "token", "expires_at", "lock")

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self.token = ""
        self.expires_at = 0.0
        self.lock = asyncio.Lock()


class AccessTokenCache:
    """Access tokens per credentials, reused until ``margin`` seconds before they expire.

    One instance lives in each provider's runtime state (never in a module): a reloaded config starts
    afresh. Concurrent callers for the same credentials share one exchange.
    """

    __slots__ = ("_entries", "_margin", "_clock", "_fetch")

    def __init__(self, margin: float = REFRESH_MARGIN, clock: Callable[[], float] = time.time,
                 fetch: Callable[..., Any] = fetch_access_token) -> None:
        self._entries: dict[Any, _Entry] = {}
        self._margin = margin
        self._clock = clock
        self._fetch = fetch

    async def token(self, session: Any, credentials: str | Mapping[str, Any]) -> str:
        entry = self._entry(credentials)
        if entry.token and self._clock() < entry.expires_at - self._margin:
            return entry.token
        async with entry.lock:
            if not entry.token or self._clock() >= entry.expires_at - self._margin:
                entry.token, entry.expires_at = await self._fetch(session, entry.creds, clock=self._clock)
            return entry.token

    def invalidate(self, credentials: str | Mapping[str, Any]) -> None:
        """Forget the token of ``credentials`` (e.g. after the upstream refused it)."""
        self._entries.pop(_cache_key(credentials), None)

    def _entry(self, credentials: str | Mapping[str, Any]) -> _Entry:
        key = _cache_key(credentials)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(parse_credentials(credentials))
        return entry


def _cache_key(credentials: str | Mapping[str, Any]) -> Any:
    if isinstance(credentials, str):
        return credentials  # str hashes are cached by Python: a cheap lookup on every request
    return orjson.dumps(dict(credentials), option=orjson.OPT_SORT_KEYS, default=dict)
