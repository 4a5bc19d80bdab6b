"""The one streaming write path: upstream frames to the client, one write per frame, as they arrive.

``await response.write()`` is the back-pressure: when the client reads slowly, we stop reading the
upstream, whose socket then fills and pauses the provider. Nothing is queued in between.
"""
from __future__ import annotations

import asyncio
from typing import Mapping

from aiohttp import ClientResponse, web

from bifrost_proxy.appkeys import FRAMES_RELAYED, STREAM_DECODER
from bifrost_proxy.config.schema import KeyConfig, NetworkConfig
from bifrost_proxy.errors import GatewayError, UpstreamTimeout
from bifrost_proxy.providers.base import SSE_MEDIA_TYPE, StreamDecoder
from bifrost_proxy.sse.encode import PING_FRAME, data_frame
from bifrost_proxy.upstream.exceptions import UPSTREAM_FAILURES, translate

# every streamed answer, SSE or raw audio: no cache may hold it, no proxy may buffer it
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# after [DONE], wait this long for the upstream's end of body so its connection can be reused
DRAIN_SECONDS = 0.05


async def read_first_frames(upstream: ClientResponse, decoder: StreamDecoder) -> list[bytes]:
    """Read until the decoder yields its first frames; the caller bounds this with its first-byte deadline.

    Failures here raise: nothing has reached the client yet, so the caller may still retry or fall back.
    """
    content = upstream.content
    while True:
        chunk = await content.readany()
        if not chunk:
            return decoder.finish()
        frames = decoder.feed(chunk)
        if frames:
            return frames
        error = getattr(decoder, "error", None)
        if error is not None:
            raise error


async def relay_stream(request: web.Request, upstream: ClientResponse, decoder: StreamDecoder,
                       first: list[bytes], network: NetworkConfig, provider: str,
                       headers: Mapping[str, str], key: KeyConfig | None = None) -> web.StreamResponse:
    """Commit a 200 and relay the rest. After this point, failures become one error event (SSE) or a cut
    connection (raw bytes, which have no way to say so in-band); the response is never retried."""
    sse = decoder.media_type == SSE_MEDIA_TYPE
    if sse and hasattr(decoder, "error_frame"):
        request[STREAM_DECODER] = decoder  # so a drain cut, too, ends it in the client's own dialect
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = decoder.media_type
    response.headers.update(STREAM_HEADERS)
    response.enable_chunked_encoding()
    await response.prepare(request)
    write = response.write
    response[FRAMES_RELAYED] = len(first)  # counted per read, not per write: a cut stream is charged by it
    try:
        for frame in first:
            await write(frame)
        _raise_pending(decoder)
        if not decoder.done:
            await _pump(request, upstream, decoder, response, network, sse, provider)
    except GatewayError as exc:
        if key is not None:
            exc.redact(key.value, key.name)
        await _fail(request, response, decoder, exc, sse)
        return response
    except ConnectionResetError:
        return response  # the client is gone; our caller's `async with` closes the upstream
    await response.write_eof()
    if decoder.done and not upstream.content.at_eof():
        await _drain(upstream)
    return response


async def _pump(request: web.Request, upstream: ClientResponse, decoder: StreamDecoder,
                response: web.StreamResponse, network: NetworkConfig, sse: bool, provider: str) -> None:
    write = response.write
    loop = asyncio.get_running_loop()
    content = upstream.content
    idle = network.stream_idle_timeout
    # a client dialect whose SDKs choke on any byte that is not an event (Gemini's) turns pings off
    pings = sse and network.keepalive_interval > 0 and getattr(decoder, "keepalive", True)
    keepalive = network.keepalive_interval if pings else 0.0
    now = last_read = last_write = loop.time()
    end_at = now + network.stream_max_duration if network.stream_max_duration > 0 else None
    try:
        while not decoder.done:
            wake = last_read + idle
            if keepalive and last_write + keepalive < wake:
                wake = last_write + keepalive
            if end_at is not None and end_at < wake:
                wake = end_at
            try:
                async with asyncio.timeout_at(wake):
                    chunk = await content.readany()
            except TimeoutError:
                now = loop.time()
                if end_at is not None and now >= end_at:
                    raise UpstreamTimeout(f"the stream from provider {provider!r} ran longer than "
                                          f"stream_max_duration_in_seconds ({network.stream_max_duration:g} s)",
                                          code="stream_max_duration") from None
                if now >= last_read + idle:
                    raise UpstreamTimeout(f"provider {provider!r} sent nothing for {idle:g} s "
                                          "(stream_idle_timeout_in_seconds)", code="stream_idle_timeout") from None
                await write(PING_FRAME)
                last_write = now
                continue
            if not chunk:
                for frame in decoder.finish():
                    await write(frame)
                return
            last_read = last_write = loop.time()
            frames = decoder.feed(chunk)
            response[FRAMES_RELAYED] += len(frames)
            for frame in frames:
                await write(frame)
            _raise_pending(decoder)
    except UPSTREAM_FAILURES as exc:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away") from exc  # a failed write, not the upstream
        raise translate(exc, provider, "mid-stream") from exc


def _raise_pending(decoder: StreamDecoder) -> None:
    error = getattr(decoder, "error", None)
    if error is not None:
        raise error


async def _fail(request: web.Request, response: web.StreamResponse, decoder: StreamDecoder, exc: GatewayError,
                sse: bool) -> None:
    if sse:
        error_frame = getattr(decoder, "error_frame", None)  # a client dialect's own error event
        try:
            await response.write(error_frame(exc) if error_frame is not None else data_frame(exc.to_dict()))
            await response.write_eof()
        except ConnectionResetError:
            pass
        return
    # raw bytes: cut the connection without the final chunk, so the client knows the body is incomplete
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _drain(upstream: ClientResponse) -> None:
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while await upstream.content.readany():
                pass
    except (TimeoutError, *UPSTREAM_FAILURES):
        pass
