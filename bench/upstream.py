"""A fast fake OpenAI upstream: raw asyncio protocol (uvloop when installed), so it is never the bottleneck.

Speaks HTTP/1.1 with keep-alive. Routes:
  POST /v1/chat/completions      ``chat.completion`` JSON, or with ``"stream": true`` an SSE stream of
                                 ``chat.completion.chunk`` events (chunked, one HTTP chunk per event) ending
                                 in ``data: [DONE]`` (after a usage chunk when ``stream_options.include_usage``).
  POST /v1/audio/transcriptions  ``{"text": "..."}`` whatever the (multipart) body is.
  GET  /health                   ``{"status":"ok"}``.
The stream shape is steered by the model name: ``...-c<N>-d<MS>`` = N chunk events, MS milliseconds apart
(default 8 events, no delay). Run: ``python -m bench.upstream --port 0`` prints ``ready <port>``.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import sys
import time

import orjson

STEER = re.compile(r"-c(\d+)-d(\d+)$")
DEFAULT_CHUNKS = 8
WORDS = ("Once", " upon", " a", " time", ",", " a", " fast", " gateway", " relayed", " every", " token")
ANSWER = " ".join(["".join(WORDS)] * 4)
MAX_HEAD = 65536
MIN_READ = 65536
SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
DONE = b"data: [DONE]\n\n"
LAST_CHUNK = b"0\r\n\r\n"


def http_chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def response(status: str, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        status.encode(), content_type, len(body), body)


def completion(model: str, ident: str) -> bytes:
    return orjson.dumps({
        "id": ident, "object": "chat.completion", "created": int(time.time()), "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": len(WORDS) * 4, "total_tokens": 12 + len(WORDS) * 4},
    })


def stream_events(model: str, chunks: int, usage: bool) -> list[bytes]:
    """The HTTP chunks of one stream: ``chunks`` events; the last one also carries usage, [DONE], EOF."""
    created = int(time.time())

    def event(delta: dict, finish: str | None, choices: bool = True, extra: dict | None = None) -> bytes:
        obj = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": created, "model": model,
               "system_fingerprint": None,
               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []}
        if extra:
            obj.update(extra)
        return http_chunk(b"data: " + orjson.dumps(obj) + b"\n\n")

    out = [event({"role": "assistant", "content": ""}, None)]
    out += [event({"content": WORDS[i % len(WORDS)]}, None) for i in range(max(0, chunks - 2))]
    out.append(event({}, "stop"))
    tail = b""
    if usage:
        tail += event({}, None, choices=False,
                      extra={"usage": {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}})
    out[-1] += tail + http_chunk(DONE) + LAST_CHUNK
    return out


class Answers:
    """Per-server caches of prebuilt streams (bounded) and the response counter."""

    def __init__(self) -> None:
        self.streams: dict[tuple[str, int, bool], list[bytes]] = {}
        self.ids = itertools.count()

    def stream(self, model: str, chunks: int, usage: bool) -> list[bytes]:
        key = (model, chunks, usage)
        events = self.streams.get(key)
        if events is None:
            if len(self.streams) > 64:
                self.streams.clear()
            events = self.streams[key] = stream_events(model, chunks, usage)
        return events


class UpstreamProtocol(asyncio.BufferedProtocol):
    """One keep-alive connection. Requests are handled in order; a stream holds the line until it ends.

    Reads land in one buffer reused for the connection's life: a fresh allocation per read (plain
    ``Protocol``) made the kernel's page faults the upstream's main cost on megabyte bodies. Bodies that
    are not parsed (uploads) are dropped as they arrive.
    """

    __slots__ = ("answers", "transport", "buf", "start", "end", "head", "need", "chunked", "body", "keep_body",
                 "busy", "timer", "close_after")

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray(MIN_READ)
        self.start = 0  # unparsed bytes are buf[start:end]
        self.end = 0
        self.head: tuple[str, str, dict[str, str]] | None = None
        # Content-Length: bytes left; chunked: bytes left of this chunk, 0 = size line next,
        # -2 = the CRLF after a chunk's data next, -1 = in the trailers
        self.need = 0
        self.chunked = False
        self.body = bytearray()  # a chunked body being kept
        self.keep_body = False
        self.busy = False
        self.timer: asyncio.TimerHandle | None = None
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.timer is not None:
            self.timer.cancel()

    def get_buffer(self, sizehint: int) -> memoryview:
        if len(self.buf) - self.end < MIN_READ:
            n = self.end - self.start
            if len(self.buf) - n >= 2 * MIN_READ:
                self.buf[:n] = self.buf[self.start:self.end]  # same length: no resize of an exported buffer
            else:
                grown = bytearray(max(2 * len(self.buf), n + 2 * MIN_READ))
                grown[:n] = self.buf[self.start:self.end]
                self.buf = grown
            self.start, self.end = 0, n
        return memoryview(self.buf)[self.end:]

    def buffer_updated(self, nbytes: int) -> None:
        self.end += nbytes
        if not self.busy:
            self.process()

    def process(self) -> None:
        while self.transport is not None and not self.busy and not self.transport.is_closing():
            if self.head is None:
                end = self.buf.find(b"\r\n\r\n", self.start, self.end)
                if end < 0:
                    if self.end - self.start > MAX_HEAD:
                        self.transport.close()
                    return
                self.parse_head(bytes(self.buf[self.start:end]))
                self.start = end + 4
            if self.chunked:
                if not self.read_chunked():
                    return
                body: bytes | memoryview = bytes(self.body)
                self.body.clear()
            elif not self.keep_body:
                taken = min(self.need, self.end - self.start)
                self.start += taken
                self.need -= taken
                if self.need:
                    self.rewind()
                    return
                body = b""
            elif self.end - self.start < self.need:
                return
            else:
                body = memoryview(self.buf)[self.start:self.start + self.need]
                self.start += self.need
                self.need = 0
            method, path, headers = self.head  # type: ignore[misc]
            self.head = None
            self.rewind()
            try:
                self.handle(method, path, headers, body)
            finally:
                if isinstance(body, memoryview):
                    body.release()

    def rewind(self) -> None:
        if self.start == self.end:
            self.start = self.end = 0

    def parse_head(self, raw: bytes) -> None:
        lines = raw.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.head = (method, path, headers)
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self.need = 0 if self.chunked else int(headers.get("content-length", "0") or 0)
        self.keep_body = path.split("?", 1)[0].endswith("/chat/completions")
        self.close_after = headers.get("connection", "").lower() == "close"
        if headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def read_chunked(self) -> bool:
        """Consumes chunked framing from the buffer (keeping the data if asked); True at the body's end."""
        buf = self.buf
        while True:
            if self.need > 0:
                taken = min(self.need, self.end - self.start)
                if self.keep_body:
                    self.body += buf[self.start:self.start + taken]
                self.start += taken
                self.need -= taken
                if self.need:
                    self.rewind()
                    return False
                self.need = -2
            if self.need == -2:
                if self.end - self.start < 2:
                    return False
                self.start += 2
                self.need = 0
            end = buf.find(b"\r\n", self.start, self.end)
            if end < 0:
                return False
            line = bytes(buf[self.start:end])
            self.start = end + 2
            if self.need == -1:  # in the trailers: an empty line ends the message
                if not line:
                    self.need = 0
                    return True
                continue
            size = int(line.split(b";", 1)[0], 16)
            self.need = size if size else -1

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes | memoryview) -> None:
        path = path.split("?", 1)[0]
        if method == "POST" and path.endswith("/chat/completions"):
            self.chat(body)
        elif method == "POST" and path.endswith("/audio/transcriptions"):
            self.reply(response("200 OK", b'{"text":"' + ANSWER.encode() + b'"}'))
        elif method == "GET" and path == "/health":
            self.reply(response("200 OK", b'{"status":"ok"}'))
        else:
            self.reply(response("404 Not Found", orjson.dumps(
                {"error": {"message": f"no route {method} {path}", "type": "invalid_request_error",
                           "code": "not_found", "param": None}})))

    def chat(self, body: bytes | memoryview) -> None:
        try:
            req = orjson.loads(body)
            model = str(req.get("model", "gpt-4o-mini"))
        except (orjson.JSONDecodeError, AttributeError):
            self.reply(response("400 Bad Request", b'{"error":{"message":"bad JSON","type":"invalid_request_error",'
                                                     b'"code":null,"param":null}}'))
            return
        if not req.get("stream"):
            self.reply(response("200 OK", completion(model, f"chatcmpl-{next(self.answers.ids)}")))
            return
        match = STEER.search(model)
        chunks, delay_ms = (int(match[1]), int(match[2])) if match else (DEFAULT_CHUNKS, 0)
        usage = bool((req.get("stream_options") or {}).get("include_usage"))
        events = self.answers.stream(model, max(2, min(chunks, 100_000)), usage)
        if delay_ms <= 0:
            self.reply(SSE_HEAD + b"".join(events))
            return
        self.busy = True
        self.transport.write(SSE_HEAD + events[0])  # type: ignore[union-attr]
        self.next_event(events, 1, delay_ms / 1000)

    def next_event(self, events: list[bytes], index: int, delay: float) -> None:
        self.timer = None
        if self.transport is None:
            return
        if index < len(events):
            self.timer = asyncio.get_running_loop().call_later(delay, self.send_event, events, index, delay)
            return
        self.busy = False
        if self.close_after:
            self.transport.close()
        elif self.end > self.start:  # a request that arrived during the stream
            self.process()

    def send_event(self, events: list[bytes], index: int, delay: float) -> None:
        if self.transport is None:
            return
        self.transport.write(events[index])
        self.next_event(events, index + 1, delay)

    def reply(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[union-attr]
        if self.close_after:
            self.transport.close()  # type: ignore[union-attr]


async def serve(host: str, port: int, reuse_port: bool) -> None:
    loop = asyncio.get_running_loop()
    answers = Answers()
    server = await loop.create_server(lambda: UpstreamProtocol(answers), host, port, backlog=4096,
                                      reuse_port=reuse_port or None)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reuse-port", action="store_true", help="several processes share one port")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(serve(args.host, args.port, args.reuse_port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
