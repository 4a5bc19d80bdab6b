"""Scan every byte a gateway app sends to its clients for the key values the tests configured.

``watch_gateway_responses(monkeypatch, secrets)`` wraps ``StreamResponse.prepare`` for the duration of one
test: every response of an app that holds a ``RUNTIME`` (a gateway, however the test built it; never a
fake upstream) has its status line headers, its body and each streamed write scanned, with a carry-over
between writes so a secret split across two chunks is still found. ``assert_clean()`` fails the test
naming where a secret appeared, never the secret itself.
"""
from __future__ import annotations

from typing import Iterable

import pytest
from aiohttp import web

from bifrost_proxy.appkeys import RUNTIME


class ResponseScanner:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(s.encode() for s in secrets if s)
        self.overlap = max((len(s) for s in self.secrets), default=1) - 1
        self.leaks: list[str] = []
        self.responses = 0  # how many gateway responses were scanned (a check that cannot fail is a defect)

    def scan(self, data: bytes, where: str) -> None:
        for secret in self.secrets:
            if secret in data:
                self.leaks.append(where)

    def watch(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """Scan ``response`` (about to be prepared for ``request``) as it is written."""
        self.responses += 1
        where = f"{request.method} {request.path[:100]} -> {response.status}"
        tail = bytearray()
        write, write_eof = response.write, response.write_eof

        def scan_chunk(data: bytes | bytearray | memoryview) -> None:
            if not data:
                return
            window = bytes(tail) + bytes(data)
            self.scan(window, f"{where} (body)")
            tail[:] = window[-self.overlap:] if self.overlap else b""

        async def scanned_write(data: bytes | bytearray | memoryview) -> None:
            scan_chunk(data)
            await write(data)

        async def scanned_write_eof(data: bytes = b"") -> None:
            scan_chunk(data)
            await write_eof(data)

        response.write = scanned_write  # type: ignore[method-assign]
        response.write_eof = scanned_write_eof  # type: ignore[method-assign]

    def scan_prepared(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        where = f"{request.method} {request.path[:100]} -> {response.status}"
        headers = "\r\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.scan(f"{response.reason}\r\n{headers}".encode("utf-8", "surrogateescape"), f"{where} (headers)")
        body = getattr(response, "body", None)  # web.Response writes its body without calling write()
        if isinstance(body, (bytes, bytearray)):
            self.scan(bytes(body), f"{where} (body)")

    def assert_clean(self) -> None:
        assert not self.leaks, f"a configured key value appeared in gateway responses: {sorted(set(self.leaks))}"


def watch_gateway_responses(monkeypatch: pytest.MonkeyPatch, secrets: Iterable[str]) -> ResponseScanner:
    """Install the scanner on every gateway response prepared until the test ends."""
    scanner = ResponseScanner(secrets)
    prepare = web.StreamResponse.prepare

    async def scanned_prepare(self: web.StreamResponse, request: web.BaseRequest):
        gateway = _is_gateway(request)
        if gateway and not self.prepared:
            scanner.watch(request, self)
        writer = await prepare(self, request)
        if gateway:
            scanner.scan_prepared(request, self)
        return writer

    monkeypatch.setattr(web.StreamResponse, "prepare", scanned_prepare)
    return scanner


def _is_gateway(request: web.BaseRequest) -> bool:
    """Responses of gateway apps, and low-level error answers made before any app saw the request."""
    try:
        return RUNTIME in request.app  # type: ignore[attr-defined]
    except (AttributeError, AssertionError, RuntimeError):
        return True
