"""Malformed HTTP from a client: one warning line naming client and problem, rate limited, no traceback."""
from __future__ import annotations

import logging

import pytest
from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod, BadStatusLine, InvalidHeader, LineTooLong, \
    TransferEncodingError

from bifrost_proxy.observability.malformed_http import MalformedHTTPLog, problem

SECRET_HEADER = b"Authorization: Bearer sk-client-5ecret-" + b"x" * 100


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup():
    logger = logging.getLogger("test.malformed_http")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    records = Records()
    logger.addHandler(records)
    clock = Clock()
    yield MalformedHTTPLog(logger, burst=3, period=60.0, clock=clock), records.records, clock
    logger.removeHandler(records)


def raised(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:  # as aiohttp hands it over: with its traceback
        return caught


def test_a_parser_error_is_one_warning_naming_client_and_problem_without_traceback(setup):
    log, records, _ = setup
    log.exception("Error handling request from %s", "203.0.113.7",
                  exc_info=raised(BadHttpMessage("Missing 'Host' header in request.")))
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == ("malformed HTTP request from 203.0.113.7 (answered 400): Missing 'Host' header "
                                   "in request")


def test_tls_to_the_plain_port_logged_by_aiohttp_at_debug_is_a_warning_too(setup):
    log, records, _ = setup
    log.debug("Error handling request from %s", "203.0.113.7", exc_info=raised(BadHttpMethod("\x16\x03\x01\x02")))
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.WARNING, None)]
    assert "TLS (HTTPS) spoken to the plain HTTP port" in records[0].getMessage()


def test_anything_else_keeps_its_level_and_traceback(setup):
    log, records, _ = setup
    bug = raised(ZeroDivisionError("a bug of ours"))
    log.exception("Unhandled exception", exc_info=bug)
    log.debug("Ignored premature client disconnection")
    log.warning("something aiohttp says")
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.ERROR, "Unhandled exception"), (logging.DEBUG, "Ignored premature client disconnection"),
        (logging.WARNING, "something aiohttp says")]
    assert records[0].exc_info[1] is bug


def test_a_flood_is_cut_to_the_burst_and_the_next_line_counts_what_was_left_out(setup):
    log, records, clock = setup
    for _ in range(10):
        log.exception("Error handling request from %s", "198.51.100.9", exc_info=raised(BadHttpMessage("bad")))
    assert len(records) == 3
    clock.now += 59
    log.exception("Error handling request from %s", "198.51.100.9", exc_info=raised(BadHttpMessage("bad")))
    assert len(records) == 3
    clock.now += 1
    log.exception("Error handling request from %s", "198.51.100.10", exc_info=raised(BadHttpMessage("bad")))
    assert len(records) == 4
    assert records[3].getMessage() == ("malformed HTTP request from 198.51.100.10 (answered 400): bad; 8 more "
                                       "malformed request(s) since the last such line were not logged")
    log.exception("Error handling request from %s", "198.51.100.10", exc_info=raised(BadHttpMessage("bad")))
    assert records[4].getMessage().endswith(": bad")


@pytest.mark.parametrize("exc, expected", [
    (LineTooLong(SECRET_HEADER[:100], 8190), "a request or header line longer than 8190 bytes"),
    (InvalidHeader(SECRET_HEADER), "a malformed header"),
    (BadStatusLine(SECRET_HEADER.decode()), "not HTTP: a malformed request line"),
    (BadHttpMethod(SECRET_HEADER.decode()), "not HTTP: no valid method in the request line"),
    (TransferEncodingError("Not enough data to satisfy transfer length header."), "broken chunked encoding"),
    (BadHttpMessage("Invalid character in chunk size:\n\n    b'" + SECRET_HEADER.decode() + "'\n      ^"),
     "Invalid character in chunk size"),
    (BadHttpMessage("Invalid header value char: " + SECRET_HEADER.decode()), "Invalid header value char"),
    (BadHttpMessage(""), "BadHttpMessage"),
])
def test_the_problem_is_named_without_quoting_the_clients_bytes(exc, expected):
    assert problem(exc) == expected
    assert "5ecret" not in problem(exc)
