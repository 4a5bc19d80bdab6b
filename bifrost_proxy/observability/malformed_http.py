"""Malformed HTTP from a client: one rate-limited warning line, never a traceback (issue 11).

aiohttp answers bytes it cannot parse as HTTP (no Host header, a header line over the limit, broken
chunked encoding, TLS spoken to the plain port) with a 400, then logs the parser's exception on its server
logger as an ERROR with a full traceback (``RequestHandler.handle_error``). That is a client's mistake, not
ours, and anyone who can reach the port could flood the log with it. ``MalformedHTTPLog`` stands in for
that logger (``AppRunner(logger=...)``): a parser exception becomes one WARNING line naming the client and
the problem, at most ``burst`` of them per ``period`` seconds; the next line after a quiet spell says how
many were left out. Every other record (our own bugs included) passes through untouched, traceback and all.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from aiohttp.http_exceptions import BadHttpMethod, BadStatusLine, HttpProcessingError, InvalidHeader, \
    InvalidURLError, LineTooLong, TransferEncodingError

BURST = 10  # lines per period; enough to see what is going on, too few to flood anything
PERIOD_SECONDS = 60.0
MAX_PROBLEM_CHARS = 120


class MalformedHTTPLog:
    """A drop-in for aiohttp's ``aiohttp.server`` logger: only malformed-request records change."""

    def __init__(self, logger: logging.Logger, burst: int = BURST, period: float = PERIOD_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.burst = burst
        self.period = period
        self._clock = clock
        self._window_start = -period  # the first line opens a window
        self._logged = 0  # lines in the current window
        self._left_out = 0  # malformed requests not logged since the last line

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        if not self._client_mistake(args, exc_info):
            self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        # aiohttp logs a first request that is not HTTP at all (TLS, a scanner) at debug level
        if not self._client_mistake(args, kwargs.get("exc_info")):
            self.logger.debug(msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.logger, name)  # warning, error, isEnabledFor ...: aiohttp's logger as it is

    def _client_mistake(self, args: tuple[Any, ...], exc_info: Any) -> bool:
        """Log ``exc_info`` as one line if it is a parser error; False if it is something else."""
        exc = exc_info if isinstance(exc_info, BaseException) else None
        if exc is None and isinstance(exc_info, tuple) and len(exc_info) == 3:
            exc = exc_info[1]
        if not isinstance(exc, HttpProcessingError):
            return False
        now = self._clock()
        if now - self._window_start >= self.period:
            self._window_start, self._logged = now, 0
        if self._logged >= self.burst:
            self._left_out += 1
            return True
        self._logged += 1
        client = str(args[0]) if args and args[0] else "an unknown client"
        status = exc.code or 400
        if self._left_out:
            left_out, self._left_out = self._left_out, 0
            self.logger.warning("malformed HTTP request from %s (answered %s): %s; %d more malformed request(s) "
                                "since the last such line were not logged", client, status, problem(exc), left_out)
        else:
            self.logger.warning("malformed HTTP request from %s (answered %s): %s", client, status, problem(exc))
        return True


def problem(exc: HttpProcessingError) -> str:
    """What was wrong, in words that quote none of the client's bytes (they may hold its credentials)."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else "the limit"
        return f"a request or header line longer than {limit} bytes"
    if isinstance(exc, BadHttpMethod):
        if "HTTPS" in exc.message:
            return "TLS (HTTPS) spoken to the plain HTTP port"
        return "not HTTP: no valid method in the request line"
    if isinstance(exc, BadStatusLine):
        return "not HTTP: a malformed request line"
    if isinstance(exc, InvalidHeader):
        return "a malformed header"
    if isinstance(exc, InvalidURLError):
        return "a malformed URL"
    if isinstance(exc, TransferEncodingError):
        return "broken chunked encoding"
    # the parser's own words: the problem comes first; the bytes it quotes follow a colon or a line break
    lines = str(exc.message or "").strip().splitlines()
    first = lines[0].split(": ", 1)[0].rstrip(":. ") if lines else ""
    text = "".join(c if " " <= c <= "~" else "?" for c in first)[:MAX_PROBLEM_CHARS]
    return text or type(exc).__name__
