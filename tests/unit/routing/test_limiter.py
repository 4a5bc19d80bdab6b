"""The provider limiter: FIFO hand-over, cancellation frees a place at once, drop_excess bounds the line."""
from __future__ import annotations

import asyncio

import pytest

from bifrost_proxy.errors import RateLimited
from bifrost_proxy.routing.limiter import ProviderLimiter


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_places_are_handed_to_waiters_in_arrival_order():
    limiter = ProviderLimiter("p", concurrency=2, buffer_size=10, drop_excess=False)
    await limiter.acquire()
    await limiter.acquire()
    order: list[int] = []

    async def wait(i: int) -> None:
        await limiter.acquire()
        order.append(i)

    tasks = [asyncio.create_task(wait(i)) for i in range(5)]
    await settle()
    assert limiter.waiting == 5 and order == []
    for expected in range(5):
        limiter.release()
        await settle()
        assert order == list(range(expected + 1))
    assert limiter.in_flight == 2
    await asyncio.gather(*tasks)


async def test_a_late_arrival_never_overtakes_the_line():
    limiter = ProviderLimiter("p", concurrency=1, buffer_size=10, drop_excess=False)
    await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    await settle()
    limiter.release()  # the place goes to `first`, even though a newcomer calls acquire before it runs
    late = asyncio.create_task(limiter.acquire())
    await settle()
    assert first.done() and not late.done()
    assert limiter.in_flight == 1 and limiter.waiting == 1
    late.cancel()
    await settle()
    assert limiter.waiting == 0


async def test_a_cancelled_waiter_leaves_the_line_at_once():
    limiter = ProviderLimiter("p", concurrency=1, buffer_size=10, drop_excess=False)
    await limiter.acquire()
    leaver = asyncio.create_task(limiter.acquire())
    stayer = asyncio.create_task(limiter.acquire())
    await settle()
    assert limiter.waiting == 2
    leaver.cancel()
    await settle()
    assert limiter.waiting == 1
    limiter.release()
    await settle()
    assert stayer.done() and limiter.in_flight == 1
    with pytest.raises(asyncio.CancelledError):
        await leaver


async def test_a_place_handed_to_a_waiter_that_is_cancelled_moves_on():
    limiter = ProviderLimiter("p", concurrency=1, buffer_size=10, drop_excess=False)
    await limiter.acquire()
    granted = asyncio.create_task(limiter.acquire())
    nxt = asyncio.create_task(limiter.acquire())
    await settle()
    limiter.release()  # hands the place to `granted` ...
    granted.cancel()  # ... which is cancelled before it runs: the place must reach `nxt`
    await settle()
    assert granted.cancelled()
    assert nxt.done() and limiter.in_flight == 1 and limiter.waiting == 0
    limiter.release()
    assert limiter.in_flight == 0


async def test_a_deadline_while_waiting_frees_the_place():
    limiter = ProviderLimiter("p", concurrency=1, buffer_size=10, drop_excess=False)
    await limiter.acquire()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await limiter.acquire()
    assert limiter.waiting == 0
    limiter.release()
    assert limiter.in_flight == 0


async def test_drop_excess_answers_429_past_the_buffer_and_never_waits():
    limiter = ProviderLimiter("p", concurrency=1, buffer_size=2, drop_excess=True)
    await limiter.acquire()
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(2)]
    await settle()
    with pytest.raises(RateLimited) as info:
        await limiter.acquire()
    assert info.value.status == 429 and info.value.code == "queue_full"
    assert "1 in flight, 2 waiting" in info.value.message
    assert limiter.waiting == 2
    for _ in range(3):
        limiter.release()
        await settle()
    await asyncio.gather(*waiters)
    assert limiter.in_flight == 0


async def test_without_drop_excess_the_line_grows_past_the_buffer():
    limiter = ProviderLimiter("p", concurrency=1, buffer_size=1, drop_excess=False)
    await limiter.acquire()
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(5)]
    await settle()
    assert limiter.waiting == 5
    for task in waiters:
        task.cancel()
    await settle()
    assert limiter.waiting == 0


async def test_release_without_waiters_frees_a_place():
    limiter = ProviderLimiter("p", concurrency=2, buffer_size=0, drop_excess=True)
    await limiter.acquire()
    await limiter.acquire()
    with pytest.raises(RateLimited):
        await limiter.acquire()
    limiter.release()
    await limiter.acquire()  # immediate: a place was free
    assert limiter.in_flight == 2
