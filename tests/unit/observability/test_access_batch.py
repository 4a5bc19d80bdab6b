"""The access log's direct path: the same line ``logging`` would write, masked, batched per loop turn."""
from __future__ import annotations

import asyncio
import io
import logging

import orjson
import pytest

from bifrost_proxy.observability.logging import FIELDS, MASK, CoalescingStreamHandler, JSONFormatter, \
    RedactSecrets, TextFormatter, access_handler

SECRET = "sk-live-0123456789abcdef"
FIELDS_SEEN = {"request_id": "r1", "route": "/v1/chat/completions", "status": 200, "key": "primary"}


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def handler(formatter: logging.Formatter, secrets=()) -> tuple[CoalescingStreamHandler, CountingStream]:
    stream = CountingStream()
    h = CoalescingStreamHandler(stream)
    h.setFormatter(formatter)
    h.addFilter(RedactSecrets(secrets))
    return h, stream


def via_logging(formatter: logging.Formatter, fields: dict, created: float) -> str:
    rec = logging.LogRecord("bifrost_proxy.access", logging.INFO, __file__, 1, orjson.dumps(fields).decode(), None,
                            None)
    rec.created, rec.msecs = created, (created - int(created)) * 1000
    rec.__dict__[FIELDS] = fields
    return formatter.format(rec)


@pytest.mark.parametrize("formatter", [TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"),
                                       JSONFormatter()])
def test_fields_make_the_line_a_record_would(formatter):
    created = 1_765_000_000.25
    direct = formatter.format_fields("bifrost_proxy.access", FIELDS_SEEN, created)
    assert direct == via_logging(formatter, FIELDS_SEEN, created)


async def test_lines_of_one_loop_turn_go_out_in_one_write_and_in_order():
    h, stream = handler(JSONFormatter())
    for i in range(5):
        h.write_fields("bifrost_proxy.access", {**FIELDS_SEEN, "request_id": f"r{i}"})
    assert stream.getvalue() == "" and stream.writes == 0  # nothing yet: the turn is not over
    await asyncio.sleep(0)
    lines = stream.getvalue().splitlines()
    assert [orjson.loads(line)["request_id"] for line in lines] == [f"r{i}" for i in range(5)]
    assert stream.writes == 1
    h.write_fields("bifrost_proxy.access", {**FIELDS_SEEN, "request_id": "before"})
    h.handle(logging.LogRecord("bifrost_proxy.server", logging.WARNING, __file__, 1, "after", None, None))
    # another record is written at once, after the access line still waiting
    assert [orjson.loads(line).get("request_id", "after") for line in stream.getvalue().splitlines()[5:]] == \
        ["before", "after"]


def test_a_secret_in_an_access_line_is_masked_and_outside_a_loop_it_is_written_at_once():
    h, stream = handler(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"), [SECRET])
    h.write_fields("bifrost_proxy.access", {**FIELDS_SEEN, "request_id": f"x{SECRET}x"})
    text = stream.getvalue()
    assert SECRET not in text and MASK in text and text.endswith("\n")


def test_the_direct_path_is_taken_only_when_our_handler_is_the_only_one(monkeypatch):
    ours, _ = handler(JSONFormatter())
    log = logging.getLogger("bifrost_proxy.access")
    monkeypatch.setattr(logging.root, "handlers", [ours])
    assert access_handler(log) is ours
    monkeypatch.setattr(logging.root, "handlers", [ours, logging.StreamHandler(io.StringIO())])
    assert access_handler(log) is None  # e.g. a test capturing logs: records as usual
    monkeypatch.setattr(logging.root, "handlers", [logging.StreamHandler(io.StringIO())])
    assert access_handler(log) is None
