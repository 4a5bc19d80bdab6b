"""A minimal HTTP/1.1 keep-alive client connection for the load generator: one request at a time.

Cheaper than a general client because it only does what a benchmark needs: send prebuilt request bytes,
parse the status and framing (Content-Length or chunked), note when the first body byte and the end
arrived (``time.perf_counter_ns``), and keep the body only when asked (to validate a sample).
"""
from __future__ import annotations

import asyncio
from time import perf_counter_ns

HEAD, BODY, CHUNKED, DONE = range(4)
TAIL = 32  # bytes of the body kept to check that a stream ends with data: [DONE]


class Reply:
    """What one request got back. Times are ``perf_counter_ns`` values."""

    __slots__ = ("status", "t_send", "t_first", "t_end", "nbytes", "tail", "body")

    def __init__(self, t_send: int) -> None:
        self.status = 0
        self.t_send = t_send
        self.t_first = 0
        self.t_end = 0
        self.nbytes = 0
        self.tail = b""
        self.body: bytearray | None = None


def build_request(method: str, path: str, port: int, body: bytes, content_type: str) -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nAuthorization: Bearer sk-bench\r\n\r\n").encode() + body


class Connection(asyncio.Protocol):
    """Send with ``await conn.send(data, keep_body)``; a lost connection fails the pending reply."""

    __slots__ = ("transport", "buf", "state", "need", "reply", "waiter", "closed", "keep", "first")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.state = DONE
        self.need = 0
        self.reply: Reply | None = None
        self.waiter: asyncio.Future[Reply] | None = None
        self.closed = False
        self.keep = True
        # set when the pending answer's first body byte arrives (hold mode counts open streams by it)
        self.first: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, port: int) -> "Connection":
        _, conn = await asyncio.get_running_loop().create_connection(cls, "127.0.0.1", port)
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError(f"connection lost mid-response ({exc or 'closed by peer'})"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes, keep_body: bool = False, notify_first: bool = False) -> "asyncio.Future[Reply]":
        if self.closed:
            raise ConnectionError("connection closed")
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.first = loop.create_future() if notify_first else None
        self.reply = Reply(perf_counter_ns())
        if keep_body:
            self.reply.body = bytearray()
        self.state = HEAD
        self.transport.write(data)  # type: ignore[union-attr]
        return self.waiter

    def data_received(self, data: bytes) -> None:
        if self.state == DONE:
            return  # nothing asked: a stray byte would be a server bug, the next reply's parse shows it
        buf = self.buf
        buf += data
        if self.state == HEAD:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.parse_head(bytes(buf[:end]))
            del buf[:end + 4]
        if self.state == BODY:
            reply = self.reply
            if buf and not reply.t_first:  # type: ignore[union-attr]
                self.mark_first()
            if len(buf) >= self.need:
                self.take(bytes(buf[:self.need]))
                del buf[:self.need]
                self.finish()
        elif self.state == CHUNKED:
            self.read_chunks()

    def parse_head(self, raw: bytes) -> None:
        reply = self.reply
        lines = raw.split(b"\r\n")
        reply.status = int(lines[0].split(b" ", 2)[1])  # type: ignore[union-attr]
        length, chunked = 0, False
        self.keep = True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                self.keep = value.strip().lower() != b"close"
        if chunked:
            self.state, self.need = CHUNKED, 0
        else:
            self.state, self.need = BODY, length

    def read_chunks(self) -> None:
        buf = self.buf
        reply = self.reply
        while True:
            if self.need > 0:
                if len(buf) < self.need + 2:
                    return
                self.take(bytes(buf[:self.need]))
                del buf[:self.need + 2]
                self.need = 0
            end = buf.find(b"\r\n")
            if end < 0:
                return
            line = bytes(buf[:end])
            del buf[:end + 2]
            if self.need < 0:  # trailers; the empty line ends the message
                if not line:
                    self.finish()
                    return
                continue
            size = int(line.split(b";", 1)[0], 16)
            if size and not reply.t_first:  # type: ignore[union-attr]
                self.mark_first()
            self.need = size if size else -1

    def mark_first(self) -> None:
        self.reply.t_first = perf_counter_ns()  # type: ignore[union-attr]
        if self.first is not None and not self.first.done():
            self.first.set_result(None)

    def take(self, payload: bytes) -> None:
        reply = self.reply
        reply.nbytes += len(payload)  # type: ignore[union-attr]
        reply.tail = (reply.tail + payload)[-TAIL:]  # type: ignore[union-attr]
        if reply.body is not None:  # type: ignore[union-attr]
            reply.body += payload  # type: ignore[union-attr]

    def finish(self) -> None:
        reply = self.reply
        reply.t_end = perf_counter_ns()  # type: ignore[union-attr]
        self.state = DONE
        self.need = 0
        waiter, self.waiter, self.reply = self.waiter, None, None
        if not self.keep:
            self.close()
            self.closed = True
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)  # type: ignore[arg-type]
