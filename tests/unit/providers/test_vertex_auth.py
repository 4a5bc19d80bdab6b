"""Service-account JWTs, the token answer, and the access-token cache (a fake session: no sockets)."""
from __future__ import annotations

import asyncio

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bifrost_proxy.errors import AuthenticationFailed, RateLimited, UpstreamError, UpstreamUnavailable
from bifrost_proxy.providers.vertex.auth import (JWT_BEARER, SCOPE, TOKEN_URI, AccessTokenCache, CredentialsError,
                                                 build_assertion, fetch_access_token, parse_credentials,
                                                 parse_token_response)
from tests.fakes.gemini import FakeTokenSession as FakeSession, verify_jwt


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def service_account(rsa_key):
    return {"type": "service_account", "project_id": "demo", "private_key_id": "kid-123",
            "private_key": pem(rsa_key), "client_email": "gateway@demo.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.example.test/token"}


def test_assertion_is_rs256_signed_by_the_account_key(rsa_key, service_account):
    creds = parse_credentials(orjson.dumps(service_account).decode())
    jwt = build_assertion(creds, now=1_700_000_000.7)
    claims = verify_jwt(jwt, rsa_key.public_key())
    assert claims == {"iss": "gateway@demo.iam.gserviceaccount.com", "scope": SCOPE,
                      "aud": "https://oauth2.example.test/token", "iat": 1_700_000_000, "exp": 1_700_003_600}
    header = orjson.loads(__import__("base64").urlsafe_b64decode(jwt.split(".")[0] + "=="))
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "kid-123"}
    # the same JWT does not verify with another key, and a tampered payload does not verify at all
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert verify_jwt(jwt, other.public_key()) is None
    head, payload, sig = jwt.split(".")
    assert verify_jwt(f"{head}.{payload[:-2]}AA.{sig}", rsa_key.public_key()) is None


def test_credentials_parse_from_a_string_or_a_mapping(service_account):
    a = parse_credentials(service_account)
    b = parse_credentials(orjson.dumps(service_account).decode())
    assert a == b and a.type == "service_account"
    assert parse_credentials({**service_account, "token_uri": None}).token_uri == TOKEN_URI
    assert service_account["private_key"] not in repr(a)


@pytest.mark.parametrize("raw,fragment", [
    ("{not json", "not valid JSON"),
    ("[]", "JSON object"),
    ({"type": "external_account"}, "auth_credentials.type"),
    ({"type": "service_account", "client_email": "a@b"}, "missing private_key"),
    ({"type": "authorized_user", "client_id": "x"}, "missing client_secret, refresh_token"),
])
def test_bad_credentials_name_the_field(raw, fragment):
    with pytest.raises(CredentialsError) as info:
        parse_credentials(raw)
    assert fragment in str(info.value)


def test_a_non_rsa_or_garbled_key_is_refused(service_account):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    for bad, fragment in ((pem(ec_key), "must be an RSA key"), ("-----BEGIN PRIVATE KEY-----\nxx", "not a PEM")):
        creds = parse_credentials({**service_account, "private_key": bad})
        with pytest.raises(CredentialsError) as info:
            build_assertion(creds, 0)
        assert fragment in str(info.value) and "xx" not in str(info.value)


def test_token_answer():
    assert parse_token_response(200, b'{"access_token": "ya29.a", "expires_in": 3599, "token_type": "Bearer"}',
                                1000.0) == ("ya29.a", 4599.0)


@pytest.mark.parametrize("status,body,cls", [
    (400, b'{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}', AuthenticationFailed),
    (401, b'{"error": "invalid_client"}', AuthenticationFailed),
    (429, b'{"error": "rate_limit_exceeded"}', RateLimited),
    (503, b"", UpstreamUnavailable),
    (200, b'{"token_type": "Bearer"}', UpstreamError),
    (200, b"<html>", UpstreamError),
])
def test_token_refusals(status, body, cls):
    with pytest.raises(cls) as info:
        parse_token_response(status, body, 0.0)
    if status == 400:
        assert info.value.status == 401 and "Invalid JWT Signature." in info.value.message


async def test_fetch_access_token_posts_the_jwt_grant(rsa_key, service_account):
    session = FakeSession()
    token, expires_at = await fetch_access_token(session, service_account, clock=lambda: 50.0)
    assert (token, expires_at) == ("tok-1", 3650.0)
    url, form, headers = session.posts[0]
    assert url == "https://oauth2.example.test/token"
    assert headers == {"Content-Type": "application/x-www-form-urlencoded"}
    assert form["grant_type"] == [JWT_BEARER]
    assert verify_jwt(form["assertion"][0], rsa_key.public_key())["iat"] == 50


async def test_authorized_user_uses_the_refresh_grant():
    session = FakeSession()
    creds = {"type": "authorized_user", "client_id": "cid", "client_secret": "cs", "refresh_token": "rt"}
    assert (await fetch_access_token(session, creds, clock=lambda: 0.0))[0] == "tok-1"
    url, form, _ = session.posts[0]
    assert url == TOKEN_URI
    assert form == {"grant_type": ["refresh_token"], "client_id": ["cid"], "client_secret": ["cs"],
                    "refresh_token": ["rt"]}


async def test_cache_reuses_a_token_until_shortly_before_it_expires(service_account):
    now = [1000.0]
    cache = AccessTokenCache(margin=300.0, clock=lambda: now[0])
    session = FakeSession(expires_in=3600)
    assert await cache.token(session, service_account) == "tok-1"
    now[0] += 3000  # 600 s left: still good
    assert await cache.token(session, dict(service_account)) == "tok-1"
    now[0] += 301  # inside the margin: refreshed
    assert await cache.token(session, service_account) == "tok-2"
    assert len(session.posts) == 2
    cache.invalidate(service_account)
    assert await cache.token(session, service_account) == "tok-3"


async def test_concurrent_callers_share_one_exchange(service_account):
    cache = AccessTokenCache()
    session = FakeSession()
    session.release = asyncio.Event()
    raw = orjson.dumps(service_account).decode()
    tasks = [asyncio.create_task(cache.token(session, raw)) for _ in range(5)]
    await session.started.wait()
    session.release.set()
    assert await asyncio.gather(*tasks) == ["tok-1"] * 5
    assert len(session.posts) == 1


async def test_different_credentials_get_different_tokens(service_account):
    cache = AccessTokenCache()
    session = FakeSession()
    other = {**service_account, "client_email": "other@demo.iam.gserviceaccount.com"}
    assert [await cache.token(session, c) for c in (service_account, other, service_account)] == [
        "tok-1", "tok-2", "tok-1"]
