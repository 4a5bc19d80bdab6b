"""What an uploaded file is, from its first bytes: the file name and the client's Content-Type are not trusted."""
from __future__ import annotations

# how many leading bytes ``sniff`` needs to decide
HEAD_BYTES = 16

# format -> (file extensions OpenAI accepts for it, the first one canonical; the media type sent upstream).
# Providers pick the decoder by the file name's extension, so the name we send must end in one of these.
AUDIO_TYPES: dict[str, tuple[tuple[str, ...], str]] = {
    "mp3": (("mp3", "mpeg", "mpga"), "audio/mpeg"),
    "wav": (("wav",), "audio/wav"),
    "m4a": (("m4a", "mp4"), "audio/mp4"),
    "ogg": (("ogg",), "audio/ogg"),
    "webm": (("webm",), "audio/webm"),
    "flac": (("flac",), "audio/flac"),
}


def sniff(head: bytes) -> str | None:
    """The audio format whose magic bytes ``head`` starts with (a key of ``AUDIO_TYPES``), else None."""
    if head.startswith(b"ID3") or _mpeg_frame(head):
        return "mp3"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":  # ISO base media (MP4/M4A): the first box is ftyp
        return "m4a"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML header (WebM/Matroska)
        return "webm"
    if head.startswith(b"fLaC"):
        return "flac"
    return None


def _mpeg_frame(head: bytes) -> bool:
    """An MPEG audio frame header without an ID3 tag: 11 sync bits, then a valid version and layer.

    ADTS AAC shares the sync bits but has layer 00, which MPEG audio reserves, so it is not taken for MP3.
    """
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    bitrate = head[2] >> 4
    return version != 0b01 and layer != 0b00 and bitrate != 0b1111
