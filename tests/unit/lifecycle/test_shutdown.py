"""Drain.wait: requests that finish in the grace period are left alone; the rest are cut, and known as cut."""
from __future__ import annotations

import asyncio

from bifrost_proxy.lifecycle.shutdown import Drain


async def tracked(drain: Drain, work) -> asyncio.Task:
    async def run():
        task = asyncio.current_task()
        drain.tasks.add(task)
        try:
            return await work()
        except asyncio.CancelledError:
            return "cut" if task in drain.cut else "left"
        finally:
            drain.done(task)

    task = asyncio.ensure_future(run())
    await asyncio.sleep(0)
    return task


async def test_requests_that_finish_in_time_are_not_cut():
    drain = Drain()
    release = asyncio.Event()

    async def work():
        await release.wait()
        return "finished"

    task = await tracked(drain, work)
    waiting = asyncio.ensure_future(drain.wait(30))
    await asyncio.sleep(0)
    assert not waiting.done()  # it waits for the request
    release.set()
    assert await asyncio.wait_for(waiting, 5) == 0
    assert await task == "finished" and not drain.tasks


async def test_requests_past_the_grace_period_are_cut_and_know_it():
    drain = Drain()
    task = await tracked(drain, asyncio.Event().wait)
    assert await drain.wait(0.01) == 1
    assert await task == "cut"
    assert not drain.tasks and not drain.cut


async def test_nothing_in_flight_returns_at_once():
    assert await asyncio.wait_for(Drain().wait(30), 1) == 0
