"""Logging setup: text or JSON lines on stderr, with every configured secret masked as a last defence."""
from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Iterable

import orjson

MASK = "[redacted]"
FIELDS = "fields"  # a record attribute (``extra={FIELDS: {...}}``) holding structured fields for JSON logs


class RedactSecrets(logging.Filter):
    """Masks key values in a record's final message. Code never logs secrets; this catches mistakes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.update(secrets)

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
        second = int(record.created)
        if second != self._second:
            self._text = time.strftime(datefmt or "%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        return self._text if datefmt else f"{self._text},{int(record.msecs):03d}"


class TextFormatter(SecondCachedTime, logging.Formatter):
    pass


class CoalescingStreamHandler(logging.StreamHandler):
    """Writes each line at once but flushes once per event-loop turn: one write(2) for all the lines of
    a busy turn instead of one per request. Outside a running loop it flushes every line."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._flush_scheduled = False

    def flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (start-up, exit, another thread): flush now
            super().flush()
            return
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_scheduled = False
        super().flush()


class JSONFormatter(SecondCachedTime, logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
                 "logger": record.name, "pid": record.process}
        fields = record.__dict__.get(FIELDS)
        if fields:
            entry.update(fields)
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


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
