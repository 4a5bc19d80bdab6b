"""The upload spool: size limit before anything is sent, exact bytes on every re-read, memory then disk."""
from __future__ import annotations

import pytest

from bifrost_proxy.audio.upload import Spool, spool_from
from bifrost_proxy.endpoints.transcription import upload_filename
from bifrost_proxy.errors import PayloadTooLarge
from tests.fakes.audio import MP3, make_wav, split_odd


async def read_all(spool: Spool) -> bytes:
    return b"".join([chunk async for chunk in spool.open()])


@pytest.mark.parametrize("threshold", [10 ** 9, 1000, 1])
async def test_every_open_reads_the_exact_bytes(threshold):
    data = make_wav(seconds=1.0)
    spool = Spool(limit=len(data), memory_threshold=threshold)
    for piece in split_odd(data):
        spool.write(piece)
    assert spool.size == len(data)
    assert spool.head == data[:16]
    assert (spool._file is None) == (threshold > len(data))  # rolled to disk past the threshold
    assert await read_all(spool) == data
    assert await read_all(spool) == data  # a retry reads it all again
    spool.close()


async def test_two_readers_do_not_disturb_each_other():
    data = make_wav(seconds=1.0)
    spool = Spool(limit=len(data), memory_threshold=100)
    spool.write(data)
    first, second = spool.open(), spool.open()
    a1 = await first.__anext__()
    b1 = await second.__anext__()
    rest_a = b"".join([c async for c in first])
    rest_b = b"".join([c async for c in second])
    assert a1 + rest_a == b1 + rest_b == data
    spool.close()


def test_limit_is_a_413_naming_the_file():
    spool = Spool(limit=10)
    spool.write(b"0123456789")
    with pytest.raises(PayloadTooLarge) as info:
        spool.write(b"x")
    assert info.value.status == 413 and info.value.param == "file"
    assert "client.max_upload_size_mb" in info.value.message
    spool.close()


async def test_spool_from_drains_a_reader_and_closes_on_failure():
    pieces = split_odd(MP3)

    async def read_chunk(size: int) -> bytes:
        return pieces.pop(0) if pieces else b""

    spool = await spool_from(read_chunk, limit=len(MP3))
    assert await read_all(spool) == MP3
    spool.close()

    big = [b"x" * 100] * 3

    async def too_much(size: int) -> bytes:
        return big.pop(0) if big else b""

    with pytest.raises(PayloadTooLarge):
        await spool_from(too_much, limit=250)


@pytest.mark.parametrize("name, extensions, expected", [
    ("talk.mp3", ("mp3", "mpeg", "mpga"), "talk.mp3"),
    ("TALK.MPGA", ("mp3", "mpeg", "mpga"), "TALK.MPGA"),
    ("blob", ("mp3", "mpeg", "mpga"), "blob.mp3"),
    ("voice.txt", ("wav",), "voice.txt.wav"),
    ("", ("m4a", "mp4"), "audio.m4a"),
    ("../../etc/pass\"wd.wav", ("wav",), "passwd.wav"),
    ("C:\\Users\\me\\memo.flac", ("flac",), "memo.flac"),
    ("evil\r\nX-Header: 1.ogg", ("ogg",), "evilX-Header: 1.ogg"),
])
def test_upload_filename_is_safe_and_names_the_format(name, extensions, expected):
    assert upload_filename(name, extensions) == expected
