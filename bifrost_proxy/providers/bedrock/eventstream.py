"""Sans-IO codec of AWS event-stream frames (``application/vnd.amazon.eventstream``), as ConverseStream sends.

A frame, big-endian throughout (https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html)::

    total_len u32 | headers_len u32 | prelude_crc u32 (CRC32 of the 8 bytes before)
    headers (headers_len bytes) | payload | message_crc u32 (CRC32 of every byte before it)

A header is ``name_len u8 | name | type u8 | value``; the ten value types are decoded. Both CRCs are
checked (``zlib.crc32``): the prelude's before we wait for a length it announces, so garbage fails at once
instead of stalling on a bogus 4 GiB frame.
"""
from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass
from typing import Mapping, Union

PRELUDE = struct.Struct(">III")
CRC = struct.Struct(">I")
MIN_FRAME = PRELUDE.size + CRC.size
# AWS caps a payload at 16 MiB and headers at 128 KiB; a larger length is corruption, not a big event.
MAX_FRAME = 16 * 1024 * 1024 + 128 * 1024 + MIN_FRAME

HeaderValue = Union[bool, int, bytes, str, uuid.UUID]
_FIXED = {2: struct.Struct(">b"), 3: struct.Struct(">h"), 4: struct.Struct(">i"), 5: struct.Struct(">q"),
          8: struct.Struct(">q")}
_LEN16 = struct.Struct(">H")


class EventStreamError(ValueError):
    """The bytes are not a valid event stream: bad CRC, impossible length, malformed header, truncation."""


class EventStreamTruncated(EventStreamError):
    """The stream ended inside a frame."""


@dataclass(frozen=True, slots=True)
class Message:
    headers: dict[str, HeaderValue]
    payload: bytes


class EventStreamDecoder:
    """``feed(bytes) -> [Message]`` as frames complete, whatever the split; ``finish()`` raises on a cut frame.

    A corrupt frame raises ``EventStreamError``; if whole frames were read before it in the same chunk,
    they are returned and the error is kept in ``error`` (and raised by the next call).
    """

    __slots__ = ("_buf", "error")

    def __init__(self) -> None:
        self._buf = bytearray()
        self.error: EventStreamError | None = None

    def feed(self, data: bytes) -> list[Message]:
        if self.error is not None:
            raise self.error
        buf = self._buf
        buf += data
        out: list[Message] = []
        try:
            self._frames(buf, out)
        except EventStreamError as exc:
            if not out:
                raise
            self.error = exc
        return out

    @staticmethod
    def _frames(buf: bytearray, out: list[Message]) -> None:
        """Decode the whole frames at the start of ``buf`` into ``out`` and drop them from ``buf``."""
        pos = 0
        size = len(buf)
        try:
            while size - pos >= PRELUDE.size:
                total, headers_len, prelude_crc = PRELUDE.unpack_from(buf, pos)
                if zlib.crc32(buf[pos:pos + 8]) != prelude_crc:
                    raise EventStreamError("prelude CRC mismatch")
                if not MIN_FRAME <= total <= MAX_FRAME or headers_len > total - MIN_FRAME:
                    raise EventStreamError(f"impossible frame length {total} (headers {headers_len})")
                if size - pos < total:
                    break
                end = pos + total
                (message_crc,) = CRC.unpack_from(buf, end - 4)
                if zlib.crc32(buf[pos:end - 4]) != message_crc:
                    raise EventStreamError("message CRC mismatch")
                start = pos + PRELUDE.size
                headers = decode_headers(bytes(buf[start:start + headers_len]))
                out.append(Message(headers, bytes(buf[start + headers_len:end - 4])))
                pos = end
        finally:
            if pos:
                del buf[:pos]

    def finish(self) -> None:
        if self.error is not None:
            raise self.error
        if self._buf:
            raise EventStreamTruncated(f"stream ended inside a frame ({len(self._buf)} bytes left over)")


def decode_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    pos, end = 0, len(data)
    try:
        while pos < end:
            name_len = data[pos]
            name = data[pos + 1:pos + 1 + name_len].decode()
            pos += 1 + name_len
            kind = data[pos]
            pos += 1
            value: HeaderValue
            if kind in (0, 1):
                value = kind == 0
            elif kind in _FIXED:
                fixed = _FIXED[kind]
                (value,) = fixed.unpack_from(data, pos)
                pos += fixed.size
            elif kind in (6, 7):
                (length,) = _LEN16.unpack_from(data, pos)
                raw = data[pos + 2:pos + 2 + length]
                if len(raw) != length:
                    raise EventStreamError("header value runs past the headers")
                value = raw.decode() if kind == 7 else raw
                pos += 2 + length
            elif kind == 9:
                if pos + 16 > end:
                    raise EventStreamError("header value runs past the headers")
                value = uuid.UUID(bytes=data[pos:pos + 16])
                pos += 16
            else:
                raise EventStreamError(f"unknown header value type {kind}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError):
        raise EventStreamError("malformed headers") from None
    if pos != end:
        raise EventStreamError("malformed headers")
    return headers


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One frame. Header values: str (type 7), bytes (6), bool (0/1), int (int32, type 4), UUID (9).

    The gateway only decodes; this is the inverse its tests and fake upstream use.
    """
    parts = []
    for name, value in headers.items():
        raw = name.encode()
        if isinstance(value, bool):
            parts.append(bytes([len(raw)]) + raw + bytes([0 if value else 1]))
        elif isinstance(value, int):
            parts.append(bytes([len(raw)]) + raw + b"\x04" + struct.pack(">i", value))
        elif isinstance(value, uuid.UUID):
            parts.append(bytes([len(raw)]) + raw + b"\x09" + value.bytes)
        else:
            data, kind = (value.encode(), 7) if isinstance(value, str) else (bytes(value), 6)
            parts.append(bytes([len(raw)]) + raw + bytes([kind]) + _LEN16.pack(len(data)) + data)
    header_bytes = b"".join(parts)
    total = MIN_FRAME + len(header_bytes) + len(payload)
    prelude = struct.pack(">II", total, len(header_bytes))
    head = prelude + CRC.pack(zlib.crc32(prelude)) + header_bytes + payload
    return head + CRC.pack(zlib.crc32(head))
