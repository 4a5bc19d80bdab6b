"""Recorded native streams and answers, as the providers' docs show them."""
from __future__ import annotations

from pathlib import Path

RECORDINGS = Path(__file__).parent / "recordings"


def recording(name: str) -> bytes:
    return (RECORDINGS / name).read_bytes()


def sse_events(raw: bytes) -> list[bytes]:
    """A recorded SSE stream split into its events, each with its blank line."""
    return [part + b"\n\n" for part in raw.split(b"\n\n") if part.strip()]
