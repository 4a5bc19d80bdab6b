"""Logging setup: text or JSON lines on stderr, with every configured secret masked as a last defence."""
from __future__ import annotations

import logging
import sys
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


class JSONFormatter(logging.Formatter):
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
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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
    return out


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) or hasattr(value, "values"):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []
