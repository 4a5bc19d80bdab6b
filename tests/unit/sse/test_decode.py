"""The SSE decoder gives the same events however the bytes are split, line endings included."""
from __future__ import annotations

import pytest

from bifrost_proxy.sse.decode import SSEDecoder
from tests.fakes.recording import recording

STREAM = recording("openai_chat_stream.sse")


def decode(chunks: list[bytes]) -> list[tuple[str | None, bytes]]:
    decoder = SSEDecoder()
    events = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.finish())
    return [(e.event, e.data) for e in events]


def test_whole_stream():
    events = decode([STREAM])
    assert len(events) == 8
    assert events[-1] == (None, b"[DONE]")


def test_every_split_offset_gives_the_same_events():
    whole = decode([STREAM])
    for i in range(len(STREAM) + 1):
        assert decode([STREAM[:i], STREAM[i:]]) == whole, i


def test_byte_by_byte():
    assert decode([bytes([b]) for b in STREAM]) == decode([STREAM])


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_other_line_endings_at_every_split(newline):
    text = STREAM.replace(b"\n", newline)
    whole = decode([STREAM])
    for i in range(0, len(text) + 1, 7):
        assert decode([text[:i], text[i:]]) == whole, i


def test_raw_keeps_upstream_bytes_on_the_fast_path():
    decoder = SSEDecoder()
    [event] = decoder.feed(b'data: {"a":1}\n\n')
    assert event.raw == b'data: {"a":1}\n\n'


def test_comments_dropped_multiline_data_joined_and_event_field_kept():
    events = decode([b": keep-alive\n\nevent: error\ndata: {\"a\":\ndata: 1}\n\n"])
    assert events == [("error", b'{"a":\n1}')]


def test_unterminated_event_is_returned_at_finish():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]") == []
    assert decoder.pending
    assert [e.data for e in decoder.finish()] == [b"[DONE]"]
