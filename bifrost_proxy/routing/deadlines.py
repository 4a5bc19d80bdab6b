"""Deadlines on the request path, all watched by one timer (issue 15).

``asyncio.timeout_at`` arms a loop timer per use (under uvloop a libuv timer handle, made and closed each
time: about 4 µs, a few percent of a whole request, and once per read in a stream's relay loop). Here a
deadline is an entry in a dict that one timer sweeps every ``RESOLUTION`` seconds while any deadline is
open, so a deadline fires at most that much late. What it does when it fires is what ``asyncio.Timeout``
does: cancel the task, then turn that cancellation into ``TimeoutError`` at the end of the block, and only
that one (a client leaving at the same moment stays a cancellation).
"""
from __future__ import annotations

import asyncio
from types import TracebackType

RESOLUTION = 0.005  # seconds; deadlines are whole-request timeouts and stream gaps, never finer than this


class Deadlines:
    """The open deadlines of one app (its loop), and the sweeping timer while there are any."""

    __slots__ = ("_open", "_timer", "_loop")

    def __init__(self) -> None:
        self._open: dict[Deadline, None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def at(self, when: float) -> "Deadline":
        """``async with deadlines.at(loop_time):`` raises ``TimeoutError`` if the block is still running then."""
        return Deadline(self, when)

    def _watch(self, deadline: "Deadline") -> None:
        self._open[deadline] = None
        if self._timer is None:
            loop = self._loop = asyncio.get_running_loop()
            self._timer = loop.call_at(min(deadline.when, loop.time() + RESOLUTION), self._sweep)

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        due = [d for d in self._open if d.when <= now]
        for deadline in due:
            del self._open[deadline]
            deadline.expire()
        self._timer = loop.call_at(now + RESOLUTION, self._sweep) if self._open else None


class Deadline:
    __slots__ = ("owner", "when", "task", "cancelling", "expired")

    def __init__(self, owner: Deadlines, when: float) -> None:
        self.owner = owner
        self.when = when
        self.task: asyncio.Task | None = None
        self.cancelling = 0
        self.expired = False

    async def __aenter__(self) -> "Deadline":
        task = self.task = asyncio.current_task()
        assert task is not None
        self.cancelling = task.cancelling()
        self.owner._watch(self)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if not self.expired:
            self.owner._open.pop(self, None)
            return
        assert self.task is not None
        # as asyncio.Timeout: our cancellation becomes TimeoutError; one from elsewhere stays a cancellation
        if self.task.uncancel() <= self.cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    def expire(self) -> None:
        self.expired = True
        assert self.task is not None
        self.task.cancel()
