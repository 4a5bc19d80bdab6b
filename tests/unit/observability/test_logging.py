"""Log formatting: JSON lines with structured fields, and the secret mask as a last defence."""
from __future__ import annotations

import logging

import orjson

from bifrost_proxy.observability.logging import FIELDS, MASK, JSONFormatter, RedactSecrets

SECRET = "sk-live-0123456789abcdef"


def record(message: str, fields: dict | None = None) -> logging.LogRecord:
    rec = logging.LogRecord("bifrost_proxy.access", logging.INFO, __file__, 1, message, None, None)
    if fields is not None:
        rec.__dict__[FIELDS] = fields
    return rec


def test_json_lines_put_structured_fields_at_the_top_level():
    line = orjson.loads(JSONFormatter().format(record('{"status":200}', {"status": 200, "route": "/health"})))
    assert line["status"] == 200 and line["route"] == "/health"
    assert line["level"] == "info" and line["logger"] == "bifrost_proxy.access" and isinstance(line["pid"], int)
    assert "message" not in line


def test_json_lines_without_fields_carry_the_message():
    line = orjson.loads(JSONFormatter().format(record("listening on 0.0.0.0:8080")))
    assert line["message"] == "listening on 0.0.0.0:8080"


def test_a_masked_record_loses_its_fields_too():
    redact = RedactSecrets([SECRET])
    rec = record(f"oops {SECRET}", {"oops": SECRET})
    assert redact.filter(rec)
    line = JSONFormatter().format(rec)
    assert SECRET not in line and MASK in line


def test_reloaded_secrets_replace_the_old_ones():
    redact = RedactSecrets(["sk-old-0123456789"])
    redact.update([SECRET, "short"])
    rec = record(f"{SECRET} sk-old-0123456789 short")
    redact.filter(rec)
    assert rec.getMessage() == f"{MASK} sk-old-0123456789 short"
