"""The upstream call, one layer below ``ClientSession.request`` (issue 15).

``ClientSession.request`` builds a ``ClientRequest``, a ``ClientResponse``, trace contexts, timers and a
header multidict per call: about a quarter of the gateway's CPU per request. A gateway request to a
provider is always the same shape (a method, a URL under a configured base URL, a handful of headers, a
body in hand), so ``send`` keeps aiohttp's own pieces and skips the rest:

- the session's ``TCPConnector``: its keep-alive pool, per-host limit, DNS cache and TLS (``connect()``
  gets a ``ClientRequest`` built once per origin, used only for its connection key, host and TLS settings);
- the request head serialized here (method, target, headers; values with CR/LF are refused, as aiohttp
  refuses them) and written with the body in one ``transport.write`` (a body over 64 KiB: two writes);
- aiohttp's response protocol and its C HTTP parser (``ResponseHandler.read()``), which hand back the
  status, the headers and the body as the same ``StreamReader`` a ``ClientResponse`` has as ``content``.

Bodies that are not bytes (streamed uploads), URLs with credentials or characters that need quoting, and
schemes other than http/https take ``ClientSession.request`` as before: both answers offer ``status``,
``headers``, ``content``, ``read()`` and ``release()``. There are no proxies (the session has
``trust_env=False``) and no redirects (the session path passes ``allow_redirects=False``).
"""
from __future__ import annotations

import asyncio
from typing import Any, Protocol

import aiohttp
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.http import SERVER_SOFTWARE
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from multidict import CIMultiDictProxy
from yarl import URL

# what ClientSession sends when the caller does not say (ClientRequest.DEFAULT_HEADERS, User-Agent)
DEFAULT_HEADERS = {"Accept": "*/*", "Accept-Encoding": ClientRequest.DEFAULT_HEADERS["Accept-Encoding"],
                   "User-Agent": SERVER_SOFTWARE}
FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
READ_BUFSIZE = 2 ** 16
JOIN_LIMIT = 2 ** 16  # bodies up to this size go out in the same write as the head  # ClientSession's default read_bufsize
MAX_ORIGINS = 256  # origins come from the config (base URLs); a bound in case an adapter builds others


class UpstreamAnswer(Protocol):
    """What the request path uses of an upstream answer: ``UpstreamResponse``, or the session's
    ``ClientResponse`` for what ``send`` leaves to the session."""

    status: int
    headers: CIMultiDictProxy[str]
    content: StreamReader

    async def read(self) -> bytes: ...

    def release(self) -> Any: ...


class UpstreamResponse:
    """An upstream answer read by aiohttp's protocol: what dispatch and the relay use of a ClientResponse."""

    __slots__ = ("status", "reason", "headers", "content", "_connection")

    def __init__(self, status: int, reason: str, headers: CIMultiDictProxy[str], content: StreamReader,
                 connection: Connection) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.content = content
        self._connection: Connection | None = connection

    async def read(self) -> bytes:
        return await self.content.read()

    def release(self) -> None:
        """Back to the pool when the body was read to its end; otherwise the connection is closed (the
        protocol knows: ``should_close`` holds while a body is unread or the upstream asked to close)."""
        connection = self._connection
        if connection is not None:
            self._connection = None
            connection.release()


class Origin:
    """Per scheme://host:port: the request template the connector keys its pool by, and the Host header."""

    __slots__ = ("template", "host")

    def __init__(self, template: ClientRequest, host: str) -> None:
        self.template = template
        self.host = host


class UpstreamClient:
    """Sends upstream requests over the app's one ``ClientSession`` (and its connector)."""

    __slots__ = ("session", "_origins")

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self._origins: dict[str, Origin | None] = {}

    async def send(self, method: str, url: str, headers: dict[str, str], body: Any) -> UpstreamAnswer:
        """The upstream's answer (status and headers read, body not yet); the caller must ``release()`` it.

        Failures raise what aiohttp raises (``ClientError`` subclasses, ``OSError``, ``TimeoutError``): the
        caller translates them (``upstream/exceptions.py``). A cancellation closes the connection."""
        head = self._head(method, url, headers, body) if type(body) is bytes or body is None else None
        if head is None:
            return await self.session.request(method, url, headers=headers, data=body, allow_redirects=False)
        origin, *data = head
        session = self.session
        connection = await session.connector.connect(origin.template, [], session.timeout)  # type: ignore[union-attr]
        try:
            protocol = connection.protocol
            transport = connection.transport
            if protocol is None or transport is None:
                raise aiohttp.ServerDisconnectedError()
            protocol.set_response_params(read_until_eof=True, auto_decompress=session.auto_decompress,
                                         read_bufsize=READ_BUFSIZE, skip_payload=method == "HEAD")
            for part in data:
                transport.write(part)
            while True:
                try:
                    message, payload = await protocol.read()
                except HttpProcessingError as exc:
                    # the upstream's status line or headers are malformed (ClientSession: ClientResponseError)
                    raise aiohttp.ClientResponseError(origin.template.request_info, (), status=exc.code,
                                                      message=exc.message) from exc
                if not 100 <= message.code <= 199 or message.code == 101:
                    break
        except BaseException:
            connection.close()
            raise
        return UpstreamResponse(message.code, message.reason, message.headers, payload, connection)

    def _head(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> \
            tuple[Origin, bytes] | tuple[Origin, bytes, bytes] | None:
        """The origin and the request's bytes (head and body), or None when the session should send it."""
        start = url.find("://")
        slash = url.find("/", start + 3) if start > 0 else -1
        if slash < 0:
            return None
        target = url[slash:]
        # the session would quote these; adapters quote what they put in a path, so this is rare
        if not (target.isascii() and target.isprintable()) or " " in target or "#" in target:
            return None
        origin = self._origin(url[:slash])
        if origin is None:
            return None
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {origin.host}\r\n"]
        given = set()
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
                return None  # the session refuses these with its own error
            given.add(name.lower())
            lines.append(f"{name}: {value}\r\n")
        if not given.isdisjoint(FRAMING_HEADERS):
            return None  # a configured header that frames the message: leave it to the session's rules
        for name, value in DEFAULT_HEADERS.items():
            if name.lower() not in given:
                lines.append(f"{name}: {value}\r\n")
        if body is not None:
            if "content-type" not in given:
                lines.append("Content-Type: application/octet-stream\r\n")
            lines.append(f"Content-Length: {len(body)}\r\n\r\n")
            head = "".join(lines).encode("utf-8")
            # one write for the usual small body; a large one is not copied behind the head
            return (origin, head + body) if len(body) <= JOIN_LIMIT else (origin, head, body)
        if method not in ClientRequest.GET_METHODS:
            lines.append("Content-Length: 0\r\n")
        lines.append("\r\n")
        return origin, "".join(lines).encode("utf-8")

    def _origin(self, origin_text: str) -> Origin | None:
        try:
            return self._origins[origin_text]
        except KeyError:
            pass
        origin: Origin | None = None
        try:
            url = URL(origin_text)
        except ValueError:
            url = None
        if url is not None and url.scheme in ("http", "https") and url.raw_host and not url.raw_user \
                and not url.raw_password and url.raw_path in ("", "/"):
            template = ClientRequest("GET", url, loop=asyncio.get_running_loop(), session=self.session, ssl=True)
            origin = Origin(template, template.headers["Host"])
        if len(self._origins) < MAX_ORIGINS:
            self._origins[origin_text] = origin
        return origin
