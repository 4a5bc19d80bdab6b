"""Every GatewayError in Anthropic's error shape, with the status Anthropic's SDKs expect for its type."""
from __future__ import annotations

import orjson
import pytest

from bifrost_proxy.errors import AuthenticationFailed, BadRequest, GatewayError, NotFound, PayloadTooLarge, \
    PermissionDenied, RateLimited, UpstreamError, UpstreamTimeout, UpstreamUnavailable, from_upstream_status
from bifrost_proxy.inbound.anthropic.dialect import ANTHROPIC
from bifrost_proxy.providers.anthropic import error_from_event, parse_anthropic_error


@pytest.mark.parametrize("error, status, etype", [
    (BadRequest("bad"), 400, "invalid_request_error"),
    (AuthenticationFailed("who"), 401, "authentication_error"),
    (from_upstream_status(402, "pay"), 402, "billing_error"),
    (PermissionDenied("no"), 403, "permission_error"),
    (NotFound("where"), 404, "not_found_error"),
    (PayloadTooLarge("big"), 413, "request_too_large"),
    (from_upstream_status(422, "odd"), 422, "invalid_request_error"),
    (RateLimited("slow"), 429, "rate_limit_error"),
    (GatewayError("ours"), 500, "api_error"),
    (UpstreamError("reset"), 502, "api_error"),
    (UpstreamUnavailable("busy"), 529, "overloaded_error"),
    (UpstreamTimeout("late"), 504, "timeout_error"),
    (parse_anthropic_error(529, {}, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'),
     529, "overloaded_error"),
    (error_from_event({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
     529, "overloaded_error"),
    (error_from_event({"type": "error", "error": {"type": "rate_limit_error", "message": "x"}}),
     429, "rate_limit_error"),
])
def test_status_and_type(error, status, etype):
    got_status, body = ANTHROPIC.error_response(error)
    assert got_status == status
    assert orjson.loads(body) == {"type": "error", "error": {"type": etype, "message": error.message}}
    frame = ANTHROPIC.stream_error_frame(error)
    assert frame == b"event: error\ndata: " + body + b"\n\n"
