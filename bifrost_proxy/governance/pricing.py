"""What a call costs: USD per 1M input and output tokens, from ``pricing:`` first, then the built-in table.

``pricing:`` keys are ``provider/model`` and may be globs (``"local-vllm/*": {input: 0, output: 0}``); the
first entry that matches wins, exact names before globs. The built-in table (``pricing_table.py``) covers the
current models of the built-in providers under their own names; a dated or versioned name is tried again
without its suffix (``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``). A provider with a custom name has no
built-in prices (it may be anything, a local server included): price it in ``pricing:``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Mapping

from bifrost_proxy.governance.pricing_table import BUILTIN

# one version-like suffix at a time: a date, a revision, "-latest", a Bedrock or Vertex version
SUFFIX = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{2}-\d{4}|-\d{8}|-\d{4}|-\d{3}|-latest|-v\d+(?::\d+)?|@\d{8}|@latest)$")
# Bedrock's cross-region inference prefixes (us., eu., apac., global.) and model vendor prefix
BEDROCK_PREFIX = re.compile(r"^(?:[a-z]{2,6}\.)?(?:anthropic|meta|cohere|mistral|amazon)\.")
MAX_CACHED = 4096


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens."""

    input: float
    output: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input + tokens_out * self.output) / 1_000_000


class PriceTable:
    """Looks prices up; answers are remembered per (provider, model), so the request path pays a dict lookup."""

    __slots__ = ("_exact", "_globs", "_cache")

    def __init__(self, overrides: Mapping[str, tuple[float, float]]) -> None:
        self._exact: dict[str, Price] = {}
        self._globs: list[tuple[str, Price]] = []
        for name, (price_in, price_out) in overrides.items():
            price = Price(price_in, price_out)
            if any(c in name for c in "*?["):
                self._globs.append((name, price))
            else:
                self._exact[name] = price
        self._cache: dict[tuple[str, str], Price | None] = {}

    def price(self, provider: str, model: str) -> Price | None:
        """The price of ``model`` on ``provider``, or None when neither ``pricing:`` nor the table has one."""
        key = (provider, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._lookup(provider, model)
        if len(self._cache) >= MAX_CACHED:  # model names come from clients: never let them grow this forever
            self._cache.clear()
        self._cache[key] = found
        return found

    def _lookup(self, provider: str, model: str) -> Price | None:
        name = f"{provider}/{model}"
        price = self._exact.get(name)
        if price is not None:
            return price
        for pattern, price in self._globs:
            if fnmatchcase(name, pattern):
                return price
        return builtin_price(provider, model)


def builtin_price(provider: str, model: str) -> Price | None:
    tables = BUILTIN.get(provider)
    if not tables:
        return None
    name = model.removeprefix("models/")  # Gemini's resource names
    if provider == "bedrock":
        name = BEDROCK_PREFIX.sub("", name)
    for _ in range(4):  # at most a few suffixes deep: "claude-3-5-sonnet-20240620-v1:0"
        for table in tables:
            entry = table.get(name)
            if entry is not None:
                return Price(*entry)
        shorter = SUFFIX.sub("", name)
        if shorter == name:
            return None
        name = shorter
    return None
