"""Logging setup: text or JSON lines on stderr, with every configured secret masked as a last defence."""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import Any, Iterable

import orjson

MASK = "[redacted]"
ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"
FIELDS = "fields"  # a record attribute (``extra={FIELDS: {...}}``) holding structured fields for JSON logs


class RedactSecrets(logging.Filter):
    """Masks key values in a record's final message. Code never logs secrets; this catches mistakes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.update(secrets)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = message
        for secret in self.secrets:
            if secret in masked:
                masked = masked.replace(secret, MASK)
        if masked is not message and masked != message:
            record.msg, record.args = masked, None
            record.__dict__.pop(FIELDS, None)  # the fields held the same text: keep only the masked line
        return True

    def update(self, secrets: Iterable[str]) -> None:
        """A reloaded config's secrets replace the old ones."""
        # short values would mask ordinary words; keys are long
        self.secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)


class SecondCachedTime:
    """``formatTime`` once per second instead of once per line (strftime is a third of a line's cost)."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self.time_text(record.created, datefmt)

    def time_text(self, created: float, datefmt: str | None = None) -> str:
        second = int(created)
        if second != self._second:
            self._text = time.strftime(datefmt or "%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        return self._text if datefmt else f"{self._text},{int((created - second) * 1000):03d}"


class TextFormatter(SecondCachedTime, logging.Formatter):
    """``TIME LEVEL LOGGER: MESSAGE``; structured lines show their fields as the message, one JSON object."""

    def format_fields(self, logger: str, fields: dict[str, Any], created: float) -> str:
        """What ``format`` makes of an INFO record whose message is ``fields`` as JSON, without the record."""
        return f"{self.time_text(created)} INFO {logger}: {orjson.dumps(fields).decode()}"


class JSONFormatter(SecondCachedTime, logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.time_text(record.created, ISO_SECONDS), "level": record.levelname.lower(),
                 "logger": record.name, "pid": record.process}
        fields = record.__dict__.get(FIELDS)
        if fields:
            entry.update(fields)
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()

    def format_fields(self, logger: str, fields: dict[str, Any], created: float) -> str:
        entry = {"time": self.time_text(created, ISO_SECONDS), "level": "info", "logger": logger,
                 "pid": os.getpid()}
        entry.update(fields)
        return orjson.dumps(entry).decode()


class CoalescingStreamHandler(logging.StreamHandler):
    """Access lines are collected and written in one batch per event-loop turn: one write(2) for all the
    requests that ended in a busy turn instead of one per line (stderr is line-buffered). Other records are
    written at once, after any access lines still waiting, so the order is kept.

    ``write_fields`` is the access log's way in (``access_log.record``): the line is formatted straight
    from its fields, without a ``LogRecord``, and masked like any other line. Outside a running loop
    (start-up, exit, another thread) it is written at once."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        # written at once (a supervisor or a test may read it the moment we signal), after any batched lines
        self._pending.append(line)
        self._write_pending()

    def write_fields(self, logger: str, fields: dict[str, Any]) -> None:
        formatter = self.formatter
        format_fields = getattr(formatter, "format_fields", None)
        if format_fields is None:  # someone else's formatter: give it a record
            record = logging.LogRecord(logger, logging.INFO, __file__, 0, orjson.dumps(fields).decode(), None,
                                       None)
            record.__dict__[FIELDS] = fields
            self.handle(record)
            return
        line = format_fields(logger, fields, time.time())
        for check in self.filters:
            mask = getattr(check, "mask", None)
            if mask is not None:
                line = mask(line)
        self._add(line)

    def _add(self, line: str) -> None:
        self._pending.append(line)
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_pending()
            return
        self._scheduled = True
        loop.call_soon(self._write_pending)

    def _write_pending(self) -> None:
        self._scheduled = False
        lines, self._pending = self._pending, []
        if not lines:
            return
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except Exception:  # a closed or broken stderr must not break requests (logging's own rule)
            pass

    def flush(self) -> None:
        self._write_pending()
        super().flush()


def access_handler(logger: logging.Logger) -> CoalescingStreamHandler | None:
    """The handler to give access lines to directly: only when ours is the one place the logger's INFO
    records go (the CLI's setup); otherwise (tests capturing logs, an embedding program's own logging
    setup) lines go through ``logging`` as usual."""
    if logger.handlers or not logger.propagate:
        return None
    handlers = logging.root.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if type(handler) is not CoalescingStreamHandler or handler.level > logging.INFO:
        return None
    return handler


def setup_logging(level: str = "info", fmt: str = "text", secrets: Iterable[str] = ()) -> RedactSecrets:
    handler = CoalescingStreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    redact = RedactSecrets(secrets)
    handler.addFilter(redact)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return redact


def config_secrets(config) -> list[str]:
    """Every secret a config holds: key values and string settings (AWS secrets, service accounts)."""
    out: list[str] = []
    for provider in config.providers.values():
        for key in provider.keys:
            if key.value:
                out.append(key.value)
            out.extend(_strings(key.settings))
    out.extend(config.governance.secrets)  # virtual keys' values, the admin key, a Redis password
    return out


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) or hasattr(value, "values"):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []
