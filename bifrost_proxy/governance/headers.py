"""OpenAI's rate-limit headers on every answer of a virtual key with limits, errors included:
``x-ratelimit-limit-requests``, ``-remaining-requests``, ``-reset-requests`` and the ``-tokens`` trio.

They are written on every request, so each key keeps a template of them that changes once a second (a
period ends on a whole second, so ``end - int(now)`` is the whole wait): a request copies it and fills in
its two ``remaining`` values. ``on_prepare`` writes them as the response is prepared, so a stream gets
them too; it also remembers a streamed response, whose relayed frames a cut stream is charged by.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from bifrost_proxy.appkeys import GRANT

LIMIT = {"requests": "x-ratelimit-limit-requests", "tokens": "x-ratelimit-limit-tokens"}
REMAINING = {"requests": "x-ratelimit-remaining-requests", "tokens": "x-ratelimit-remaining-tokens"}
RESET = {"requests": "x-ratelimit-reset-requests", "tokens": "x-ratelimit-reset-tokens"}


def reset_text(seconds: int) -> str:
    """A wait in OpenAI's header style: ``59s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{secs}s"


class RateLimitHeaders:
    """One key's headers: ``build(windows, used, now)`` gives a request's list of (name, value)."""

    __slots__ = ("windows", "second", "template", "remaining")

    def __init__(self) -> None:
        self.windows: Any = None
        self.second = -1
        self.template: list[tuple[str, str]] = []
        self.remaining: list[tuple[int, int, int, str]] = []  # (position in template, window index, limit, name)

    def build(self, windows: list[Any], used: tuple[float, ...], now: float) -> list[tuple[str, str]]:
        second = int(now)
        if second != self.second or windows is not self.windows:
            self._prepare(windows, second)
        headers = self.template.copy()
        for position, index, limit, name in self.remaining:
            headers[position] = (name, str(max(0, limit - int(used[index]))))
        return headers

    def _prepare(self, windows: list[Any], second: int) -> None:
        self.windows, self.second = windows, second
        self.template, self.remaining = [], []
        for index, window in enumerate(windows):
            kind = window.metric
            if kind not in LIMIT:
                continue
            limit = int(window.limit)
            self.remaining.append((len(self.template) + 1, index, limit, REMAINING[kind]))
            self.template += ((LIMIT[kind], str(limit)), (REMAINING[kind], ""),
                              (RESET[kind], reset_text(window.end - second)))


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    try:
        grant = request[GRANT]
    except KeyError:  # not a governed route (/health, /metrics, the admin API)
        return
    if type(response) is not web.Response:
        grant.response = response
    if grant.headers:
        response.headers.extend(grant.headers)
