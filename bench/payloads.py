"""Request bodies of the scenarios, written once per run into a temporary directory.

Stream shapes are steered through the model name (see ``bench/upstream.py``): ``gpt-4o-mini-c100-d10``
is 100 chunk events 10 ms apart. Every body names ``openai/...``: the gateway strips the provider prefix,
the floor does the same, and the fake upstream reached directly does not care.
"""
from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from pathlib import Path

import orjson

MODEL = "openai/gpt-4o-mini"
BOUNDARY = "bifrostbenchboundary7MA4YWxkTrZu0gW"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Body:
    path: Path
    content_type: str
    route: str = "/v1/chat/completions"


def chat(stream_chunks: int = 0, delay_ms: int = 0, content: str = "Tell me a story about a fast gateway.") -> bytes:
    body: dict = {"model": MODEL, "messages": [{"role": "system", "content": "You are a concise assistant."},
                                               {"role": "user", "content": content}], "max_tokens": 64}
    if stream_chunks:
        body.update(model=f"{MODEL}-c{stream_chunks}-d{delay_ms}", stream=True)
    return orjson.dumps(body)


def big_chat(size: int = MIB) -> bytes:
    """A chat request of ``size`` bytes (a long user message, as a pasted document would be)."""
    filler = ("lorem ipsum dolor sit amet " * (size // 27 + 1))
    base = len(chat(content=""))
    return chat(content=filler[:size - base])


def wav(size: int) -> bytes:
    """A 16 kHz mono 16-bit PCM WAV file of ``size`` bytes (noise, so nothing on the path can compress it)."""
    data = random.Random(7).randbytes(size - 44)
    header = b"RIFF" + struct.pack("<I", size - 8) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) + b"data" + struct.pack("<I", len(data))
    return header + data


def transcription(size: int = 8 * MIB) -> bytes:
    """multipart/form-data for POST /v1/audio/transcriptions: model, response_format and an audio file."""
    def field(name: str, value: str) -> bytes:
        return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()

    return (field("model", "openai/whisper-1") + field("response_format", "json")
            + f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.wav\"\r\n"
              f"Content-Type: audio/wav\r\n\r\n".encode()
            + wav(size) + f"\r\n--{BOUNDARY}--\r\n".encode())


def write_bodies(directory: Path, stream: tuple[int, int], slow: tuple[int, int]) -> dict[str, Body]:
    """All bodies of a run: chat, stream (S3), slow stream (S4), big chat and upload (S6)."""
    json_type = "application/json"
    contents = {
        "chat": (chat(), json_type, "/v1/chat/completions"),
        "stream": (chat(*stream), json_type, "/v1/chat/completions"),
        "slow": (chat(*slow), json_type, "/v1/chat/completions"),
        "big": (big_chat(), json_type, "/v1/chat/completions"),
        "upload": (transcription(), f"multipart/form-data; boundary={BOUNDARY}", "/v1/audio/transcriptions"),
    }
    bodies = {}
    for name, (data, content_type, route) in contents.items():
        path = directory / f"{name}.body"
        path.write_bytes(data)
        bodies[name] = Body(path, content_type, route)
    return bodies
