"""SSE framing of our own events: the one place that turns objects into ``data: ...`` bytes."""
from __future__ import annotations

from typing import Any

import orjson

DONE_FRAME = b"data: [DONE]\n\n"
PING_FRAME = b": ping\n\n"


def data_frame(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def raw_data_frame(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"
