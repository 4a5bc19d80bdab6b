"""Deadlines watched by one timer: TimeoutError as asyncio.timeout gives it, and nothing else."""
from __future__ import annotations

import asyncio

import pytest

from bifrost_proxy.routing.deadlines import RESOLUTION, Deadlines


async def test_a_block_past_its_deadline_raises_timeout_error():
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        async with deadlines.at(loop.time() + 0.01):
            await asyncio.Event().wait()  # never set
    assert not deadlines._open and asyncio.current_task().cancelling() == 0


async def test_a_block_done_in_time_leaves_nothing_behind_and_the_timer_stops():
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    async with deadlines.at(loop.time() + 60):
        await asyncio.sleep(0)
    assert not deadlines._open
    await asyncio.sleep(RESOLUTION * 3)
    assert deadlines._timer is None  # nothing open: no timer turning


async def test_many_deadlines_share_one_timer_and_each_fires_on_its_own():
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    outcomes: list[str] = []

    async def wait(seconds: float, work: float) -> None:
        try:
            async with deadlines.at(loop.time() + seconds):
                await asyncio.sleep(work)
            outcomes.append("done")
        except TimeoutError:
            outcomes.append("timeout")

    tasks = [asyncio.ensure_future(wait(0.02, 5)), asyncio.ensure_future(wait(60, 0.01))]
    await asyncio.sleep(0)
    assert len(deadlines._open) == 2 and deadlines._timer is not None
    await asyncio.gather(*tasks)
    assert sorted(outcomes) == ["done", "timeout"]


async def test_a_cancellation_from_elsewhere_stays_a_cancellation():
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    started = asyncio.Event()

    async def client_request() -> None:
        async with deadlines.at(loop.time() + 60):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.ensure_future(client_request())
    await started.wait()
    task.cancel()  # the client left
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines._open


async def test_a_deadline_and_a_client_leaving_together_is_a_cancellation():
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    inside = asyncio.Event()

    async def client_request() -> None:
        async with deadlines.at(loop.time() + 0.01):
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.ensure_future(client_request())
    await inside.wait()
    task.cancel()  # before the sweep: both cancel the task; the outside one must win
    [deadline] = list(deadlines._open)
    deadlines._open.pop(deadline)
    deadline.expire()
    with pytest.raises(asyncio.CancelledError):
        await task
