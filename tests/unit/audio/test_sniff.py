"""Magic-byte sniffing: every accepted container is recognised from real bytes; anything else is not."""
from __future__ import annotations

import pytest

from bifrost_proxy.audio.sniff import AUDIO_TYPES, HEAD_BYTES, sniff
from tests.fakes.audio import M4A, MP3, make_wav

MP3_FRAME = MP3[MP3.index(b"\xff\xf3"):]  # the same file without its ID3 tag: starts at a frame header


@pytest.mark.parametrize("data, kind", [
    (MP3, "mp3"),
    (MP3_FRAME, "mp3"),
    (b"\xff\xfb\x90\x64" + bytes(12), "mp3"),  # MPEG-1 layer III, 128 kbit/s
    (make_wav(), "wav"),
    (M4A, "m4a"),
    (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "m4a"),  # an .mp4 container
    (b"OggS\x00\x02" + bytes(10), "ogg"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", "webm"),
    (b"fLaC\x00\x00\x00\x22", "flac"),
])
def test_audio_is_recognised(data, kind):
    assert sniff(data[:HEAD_BYTES]) == kind
    assert kind in AUDIO_TYPES


@pytest.mark.parametrize("data", [
    b"",
    b"ID",
    b"\x89PNG\r\n\x1a\n" + bytes(8),
    b"%PDF-1.7\n",
    b'{"text": "not audio"}',
    b"hello, this is a text file",
    b"RIFF\x24\x00\x00\x00AVI LIST",  # RIFF, but video
    b"\xff\xf1\x50\x80\x02\x1f\xfc",  # ADTS AAC: sync bits but layer 00
    b"\xff\xea\x90\x00",  # reserved MPEG version (01)
    b"\xff\xfb\xf0\x00",  # bitrate index 1111 is invalid
    b"MZ\x90\x00\x03",
])
def test_other_bytes_are_not_audio(data):
    assert sniff(data[:HEAD_BYTES]) is None
