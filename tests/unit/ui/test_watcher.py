"""A page's queue of events: in order, woken when something arrives, and cut off when it falls behind."""
from __future__ import annotations

import asyncio

from bifrost_proxy.ui.events import MAX_PENDING, Watcher, sse_event


async def test_events_come_out_in_the_order_they_went_in():
    watcher = Watcher()
    waiting = asyncio.ensure_future(watcher.next())
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing to write: the page's task sleeps
    watcher.push({"status": 200})
    watcher.push(b"tick")
    assert await asyncio.wait_for(waiting, 1) == [{"status": 200}, b"tick"]
    watcher.push({"status": 502})
    assert await watcher.next() == [{"status": 502}]


async def test_a_page_that_falls_behind_is_disconnected_instead_of_buffered():
    watcher = Watcher()
    for i in range(MAX_PENDING + 1):
        watcher.push({"n": i})
    assert watcher.overflowed and watcher.closed
    assert await watcher.next() is None
    watcher.push({"n": "late"})  # ignored once closed
    assert watcher.pending[-1] != {"n": "late"}


async def test_closing_wakes_a_waiting_page():
    watcher = Watcher()
    waiting = asyncio.ensure_future(watcher.next())
    await asyncio.sleep(0)
    watcher.close()
    assert await asyncio.wait_for(waiting, 1) is None


def test_an_event_is_framed_as_server_sent_events_name_and_json():
    assert sse_event("tick", {"t": 1, "s": "é"}) == b'event: tick\ndata: {"t":1,"s":"\xc3\xa9"}\n\n'
