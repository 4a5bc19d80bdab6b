"""Sans-IO Server-Sent Events decoder: bytes in, whole events out (https://html.spec.whatwg.org/#event-stream-interpretation).

Events keep the upstream's own bytes (``raw``) so an OpenAI-compatible stream is relayed without
re-encoding. Lines may end in ``\\n``, ``\\r\\n`` or ``\\r``; a ``\\r`` at the end of a chunk is held back
until the next byte says whether it was half of ``\\r\\n`` (openai-python ``_SSELineDecoder`` does the same).
"""
from __future__ import annotations


class SSEEvent:
    __slots__ = ("event", "data", "raw")

    def __init__(self, event: str | None, data: bytes, raw: bytes) -> None:
        self.event = event  # the "event:" field, None when absent
        self.data = data  # the "data:" lines joined by "\n"
        self.raw = raw  # the event's bytes as framed upstream, ending with its blank line

    def __repr__(self) -> str:
        return f"SSEEvent(event={self.event!r}, data={self.data!r})"


class SSEDecoder:
    """``feed(bytes) -> list[SSEEvent]``; ``finish()`` returns an event left unterminated at EOF.

    Comment-only and empty events are dropped: they carry nothing a client needs.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[SSEEvent]:
        buf = self._buf
        buf += data
        if b"\r" in buf:
            self._normalize()
        events: list[SSEEvent] = []
        start = 0
        find = buf.find
        while True:
            end = find(b"\n\n", start)
            if end < 0:
                break
            event = _parse(bytes(buf[start:end + 2]))
            start = end + 2
            if event is not None:
                events.append(event)
        if start:
            del buf[:start]
        return events

    def finish(self) -> list[SSEEvent]:
        buf = self._buf
        if buf.endswith(b"\r"):
            buf[-1:] = b"\n"
        if not buf.strip():
            buf.clear()
            return []
        raw = bytes(buf).rstrip(b"\n") + b"\n\n"
        buf.clear()
        event = _parse(raw)
        return [] if event is None else [event]

    @property
    def pending(self) -> int:
        """Bytes held for an event not yet whole (a stream that ends here was cut mid-event)."""
        return len(self._buf.strip())

    def _normalize(self) -> None:
        buf = self._buf
        held = buf.endswith(b"\r")
        body = bytes(buf[:-1] if held else buf).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf[:] = body
        if held:
            buf += b"\r"


def _parse(raw: bytes) -> SSEEvent | None:
    # Fast path: one "data: ..." line, which is what nearly every upstream sends.
    if raw.startswith(b"data: ") and raw.find(b"\n") == len(raw) - 2:
        return SSEEvent(None, raw[6:-2], raw)
    event: str | None = None
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if not data and event is None:
        return None
    return SSEEvent(event, b"\n".join(data), raw)
