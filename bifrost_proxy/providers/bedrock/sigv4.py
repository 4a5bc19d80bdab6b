"""AWS Signature Version 4 for request headers, with the standard library only.

Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html . Checked against AWS's
published test suite (tests/unit/providers/test_bedrock_sigv4.py). The time is a parameter, so signing is
a pure function.

The canonical URI is built from the path exactly as it goes on the wire, URI-encoded once more (every
service but S3 "double-encodes"): a ``%3A`` on the wire is signed as ``%253A``, a raw ``:`` as ``%3A``. AWS
computes it the same way from the path it receives, so callers must sign the URL they really send.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping
from urllib.parse import quote, unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_HEADERS = frozenset({"authorization", "content-length", "user-agent", "expect", "x-amzn-trace-id"})


@dataclass(frozen=True, slots=True)
class Credentials:
    """An AWS access key pair, and the session token of temporary credentials. Never shown in a repr."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def amz_date(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def canonical_uri(raw_path: str) -> str:
    return quote(raw_path or "/", safe="/~")


def canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else ():
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _header_value(value: str) -> str:
    return " ".join(value.split())  # trim, and collapse inner runs of spaces (get-header-value-trim)


def canonical_request(method: str, raw_path: str, raw_query: str, headers: Mapping[str, str],
                      payload_hash: str) -> tuple[str, str]:
    """(canonical request, signed header list) for ``headers``: every one of them is signed."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{_header_value(value)}" if key in lowered else _header_value(value)
    names = sorted(lowered)
    signed = ";".join(names)
    lines = "".join(f"{name}:{lowered[name]}\n" for name in names)
    text = "\n".join([method.upper(), canonical_uri(raw_path), canonical_query(raw_query), lines, signed,
                      payload_hash])
    return text, signed


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(secret_key: str, stamp: str, region: str, service: str, creq: str) -> str:
    """The hex signature of a canonical request, at ``stamp`` (``YYYYMMDDTHHMMSSZ``)."""
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{sha256_hex(creq.encode())}"
    return hmac.new(signing_key(secret_key, stamp[:8], region, service), to_sign.encode(), hashlib.sha256).hexdigest()


def sign(method: str, url: str, headers: Mapping[str, str], body: bytes, credentials: Credentials, region: str,
         service: str, now: datetime, *, content_sha256_header: bool = True) -> dict[str, str]:
    """The headers to add to a request so that AWS accepts it: ``X-Amz-Date``, ``X-Amz-Content-Sha256`` (unless
    told not to), ``X-Amz-Security-Token`` (temporary credentials) and ``Authorization``.

    Every header in ``headers`` is signed (minus the few proxies rewrite), so the request must carry them
    unchanged; ``Host`` is taken from ``url`` when ``headers`` has none, and then returned too.
    """
    parts = urlsplit(url)
    stamp = amz_date(now)
    payload_hash = sha256_hex(body)
    added: dict[str, str] = {}
    if not any(name.lower() == "host" for name in headers):
        added["Host"] = parts.netloc
    added["X-Amz-Date"] = stamp
    if content_sha256_header:
        added["X-Amz-Content-Sha256"] = payload_hash
    if credentials.session_token:
        added["X-Amz-Security-Token"] = credentials.session_token
    to_sign = {k: v for k, v in headers.items() if k.lower() not in UNSIGNED_HEADERS}
    to_sign.update(added)
    creq, signed = canonical_request(method, parts.path, parts.query, to_sign, payload_hash)
    sig = signature(credentials.secret_key, stamp, region, service, creq)
    added["Authorization"] = (f"{ALGORITHM} Credential={credentials.access_key}/{stamp[:8]}/{region}/{service}/"
                              f"aws4_request, SignedHeaders={signed}, Signature={sig}")
    return added
