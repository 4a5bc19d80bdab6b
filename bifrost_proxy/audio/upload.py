"""The client's audio file: spooled as it arrives (memory, then a temporary file), size-capped, re-readable.

The endpoint feeds the multipart part into a ``Spool`` chunk by chunk; past ``limit`` bytes it raises a
413 before any provider is called. Each upstream attempt then reads the spool again from the start through
``Spool.open()``, so retries and fallbacks send the same bytes without the file ever being held whole in
memory (beyond ``memory_threshold``).
"""
from __future__ import annotations

import os
import tempfile
from typing import AsyncIterator, Awaitable, Callable

from bifrost_proxy.audio.sniff import HEAD_BYTES
from bifrost_proxy.errors import PayloadTooLarge

READ_CHUNK = 64 * 1024
MEMORY_THRESHOLD = 512 * 1024


class Spool:
    """Bytes written once, read any number of times; in memory up to ``memory_threshold``, then on disk."""

    __slots__ = ("limit", "size", "head", "_memory", "_file", "_threshold")

    def __init__(self, limit: int, memory_threshold: int = MEMORY_THRESHOLD) -> None:
        self.limit = limit
        self.size = 0
        self.head = b""  # the first bytes, for sniffing
        self._memory: bytearray | None = bytearray()
        self._file = None
        self._threshold = memory_threshold

    def write(self, chunk: bytes) -> None:
        if self.size + len(chunk) > self.limit:
            raise PayloadTooLarge(f"the uploaded file is larger than the {self.limit / 1048576:g} MB allowed "
                                  "(client.max_upload_size_mb)", param="file", code="file_too_large")
        if len(self.head) < HEAD_BYTES:
            self.head = (self.head + chunk[:HEAD_BYTES])[:HEAD_BYTES]
        self.size += len(chunk)
        if self._memory is not None:
            self._memory += chunk
            if len(self._memory) <= self._threshold:
                return
            # roll over: local temporary-file writes land in the page cache and do not stall the loop
            self._file = tempfile.TemporaryFile(prefix="bifrost-upload-")
            chunk, self._memory = bytes(self._memory), None
        self._file.write(chunk)

    def read_at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset``; positional, so two readers never disturb each other."""
        if self._memory is not None:
            return bytes(self._memory[offset:offset + size])
        self._file.flush()
        return os.pread(self._file.fileno(), size, offset)

    async def open(self) -> AsyncIterator[bytes]:
        """The whole file from its first byte, in chunks (``Upload.open``: once per upstream attempt)."""
        offset = 0
        while offset < self.size:
            chunk = self.read_at(offset, min(READ_CHUNK, self.size - offset))
            if not chunk:
                break
            offset += len(chunk)
            yield chunk

    def close(self) -> None:
        self._memory = None
        if self._file is not None:
            self._file.close()
            self._file = None


async def spool_from(read_chunk: Callable[[int], Awaitable[bytes]], limit: int) -> Spool:
    """Drain ``read_chunk`` (e.g. aiohttp's ``BodyPartReader.read_chunk``) into a new ``Spool``."""
    spool = Spool(limit)
    try:
        while True:
            chunk = await read_chunk(READ_CHUNK)
            if not chunk:
                return spool
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
