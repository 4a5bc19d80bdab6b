"""Per-provider back-pressure: at most ``concurrency`` calls in flight, the rest wait in order."""
from __future__ import annotations

import asyncio
from collections import deque

from bifrost_proxy.errors import RateLimited


class ProviderLimiter:
    """A FIFO semaphore whose waiting line is bounded when ``drop_excess`` is set.

    A freed place is handed straight to the first waiter, so a late arrival never overtakes the line.
    A waiter that is cancelled (client gone, deadline passed) leaves the line at once.
    """

    __slots__ = ("name", "concurrency", "buffer_size", "drop_excess", "in_flight", "_waiters")

    def __init__(self, name: str, concurrency: int, buffer_size: int, drop_excess: bool) -> None:
        self.name = name
        self.concurrency = concurrency
        self.buffer_size = buffer_size
        self.drop_excess = drop_excess
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a place if one is free and nobody waits (no await, no timer: the common case)."""
        if self.in_flight < self.concurrency and not self._waiters:
            self.in_flight += 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        if self.drop_excess and len(self._waiters) >= self.buffer_size:
            raise RateLimited(f"provider {self.name!r} is at capacity ({self.concurrency} in flight, "
                              f"{self.buffer_size} waiting); retry later", code="queue_full", retryable=False)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the place was handed to us just as we left: pass it on
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass  # release() already dropped it
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the place moves to the waiter; in_flight is unchanged
                return
        self.in_flight -= 1
