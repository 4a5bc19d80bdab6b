"""The event-stream frame decoder: published frames, every header type, every split, every corruption."""
from __future__ import annotations

import struct
import uuid
import zlib
from pathlib import Path

import orjson
import pytest

from bifrost_proxy.providers.bedrock.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    Message,
    encode_message,
)

RECORDINGS = Path(__file__).parents[2] / "fakes" / "recordings"
# Frames published with an independent encoder (hex.pm event_stream, EventStream.encode! doc examples).
PUBLISHED_NO_HEADERS = (bytes([0, 0, 0, 30, 0, 0, 0, 0, 186, 242, 246, 138]) + b'{"foo": "bar"}'
                        + bytes([174, 114, 88, 228]))
PUBLISHED_CONTENT_TYPE = (bytes([0, 0, 0, 62, 0, 0, 0, 32, 64, 93, 249, 70, 12]) + b"content-type"
                          + bytes([7, 0, 16]) + b"application/json" + b'{"foo": "bar"}' + bytes([111, 162, 191, 59]))


def frame(headers: bytes, payload: bytes) -> bytes:
    """An independent frame builder (struct + zlib), to test the decoder without its own encoder."""
    prelude = struct.pack(">II", 16 + len(headers) + len(payload), len(headers))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + payload
    return head + struct.pack(">I", zlib.crc32(head))


def decode_all(chunks) -> list[Message]:
    decoder = EventStreamDecoder()
    out: list[Message] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    decoder.finish()
    return out


def test_published_frames_decode():
    messages = decode_all([PUBLISHED_NO_HEADERS + PUBLISHED_CONTENT_TYPE])
    assert messages == [Message({}, b'{"foo": "bar"}'),
                        Message({"content-type": "application/json"}, b'{"foo": "bar"}')]


def test_encoder_reproduces_the_published_frames():
    assert encode_message({}, b'{"foo": "bar"}') == PUBLISHED_NO_HEADERS
    assert encode_message({"content-type": "application/json"}, b'{"foo": "bar"}') == PUBLISHED_CONTENT_TYPE


def test_every_header_value_type():
    uid = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    headers = (b"\x01t\x00" + b"\x01f\x01" + b"\x01b\x02\xff" + b"\x01s\x03" + struct.pack(">h", -2)
               + b"\x01i\x04" + struct.pack(">i", 70000) + b"\x01l\x05" + struct.pack(">q", 2**40)
               + b"\x01y\x06\x00\x03\x00\x01\x02" + b"\x01w\x07\x00\x03h\xc3\xa9"
               + b"\x02ts\x08" + struct.pack(">q", 1700000000000) + b"\x01u\x09" + uid.bytes)
    (message,) = decode_all([frame(headers, b"payload")])
    assert message.headers == {"t": True, "f": False, "b": -1, "s": -2, "i": 70000, "l": 2**40, "y": b"\x00\x01\x02",
                               "w": "hé", "ts": 1700000000000, "u": uid}
    assert message.payload == b"payload"


def test_encoder_header_types_round_trip():
    uid = uuid.uuid4()
    headers = {":event-type": "x", "flag": True, "off": False, "n": -5, "raw": b"\x00\xff", "id": uid}
    assert decode_all([encode_message(headers, b"")]) == [Message(headers, b"")]


def recording() -> tuple[bytes, list[dict]]:
    return ((RECORDINGS / "bedrock_converse_stream.bin").read_bytes(),
            orjson.loads((RECORDINGS / "bedrock_converse_stream.json").read_bytes()))


def test_binary_recording_decodes_to_the_recorded_events():
    data, events = recording()
    messages = decode_all([data])
    assert [m.headers for m in messages] == [{":event-type": e["event"], ":content-type": "application/json",
                                              ":message-type": "event"} for e in events]
    assert [orjson.loads(m.payload) for m in messages] == [e["payload"] for e in events]


def test_recording_split_at_every_offset_gives_identical_messages():
    data, _ = recording()
    whole = decode_all([data])
    for cut in range(len(data) + 1):
        assert decode_all([data[:cut], data[cut:]]) == whole, cut


def test_recording_fed_byte_by_byte():
    data, _ = recording()
    assert decode_all([data[i:i + 1] for i in range(len(data))]) == decode_all([data])


def test_messages_come_out_as_soon_as_their_frame_is_whole():
    data, _ = recording()
    first = len(decode_all([data]))
    decoder = EventStreamDecoder()
    (total,) = struct.unpack(">I", data[:4])
    assert decoder.feed(data[:total - 1]) == []
    assert len(decoder.feed(data[total - 1:total])) == 1
    assert len(decoder.feed(data[total:])) == first - 1


@pytest.mark.parametrize("offset", range(len(PUBLISHED_CONTENT_TYPE)))
def test_any_corrupted_byte_is_detected(offset):
    bad = bytearray(PUBLISHED_CONTENT_TYPE)
    bad[offset] ^= 0x5A
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError):
        decoder.feed(bytes(bad))
        decoder.finish()


def test_bad_message_crc_names_it():
    bad = PUBLISHED_NO_HEADERS[:-1] + bytes([PUBLISHED_NO_HEADERS[-1] ^ 1])
    with pytest.raises(EventStreamError, match="message CRC"):
        EventStreamDecoder().feed(bad)


def test_bad_prelude_crc_fails_before_the_frame_is_whole():
    bad = bytearray(PUBLISHED_NO_HEADERS)
    bad[8] ^= 1
    with pytest.raises(EventStreamError, match="prelude CRC"):
        EventStreamDecoder().feed(bytes(bad[:12]))


def test_impossible_length_with_a_valid_prelude_crc():
    prelude = struct.pack(">II", 8, 0)
    with pytest.raises(EventStreamError, match="impossible frame length"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))
    prelude = struct.pack(">II", 2**31, 0)
    with pytest.raises(EventStreamError, match="impossible frame length"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_malformed_headers_inside_a_valid_frame():
    with pytest.raises(EventStreamError, match="header"):
        decode_all([frame(b"\x01a\x07\x00\x09abc", b"")])  # string longer than the headers
    with pytest.raises(EventStreamError, match="unknown header value type"):
        decode_all([frame(b"\x01a\x0a", b"")])


def test_truncated_stream_fails_at_finish_and_an_empty_one_does_not():
    decoder = EventStreamDecoder()
    assert decoder.feed(PUBLISHED_NO_HEADERS[:-3]) == []
    with pytest.raises(EventStreamError, match="inside a frame"):
        decoder.finish()
    EventStreamDecoder().finish()


def test_frames_before_a_corrupt_one_in_the_same_chunk_come_out_first():
    bad = PUBLISHED_NO_HEADERS[:-1] + bytes([PUBLISHED_NO_HEADERS[-1] ^ 1])
    decoder = EventStreamDecoder()
    assert decoder.feed(PUBLISHED_CONTENT_TYPE + bad) == [Message({"content-type": "application/json"},
                                                                   b'{"foo": "bar"}')]
    with pytest.raises(EventStreamError, match="message CRC"):
        decoder.feed(b"")
    with pytest.raises(EventStreamError, match="message CRC"):
        decoder.finish()
