"""Drain.on_drain: long-lived streams that are not requests (the dashboard's) are told first, once."""
from __future__ import annotations

from bifrost_proxy.lifecycle.shutdown import Drain


async def test_on_drain_callbacks_run_as_the_drain_begins_even_with_nothing_in_flight():
    drain = Drain()
    calls = []
    drain.on_drain.append(lambda: calls.append("first"))
    drain.on_drain.append(lambda: calls.append("second"))
    assert await drain.wait(0.01) == 0
    assert calls == ["first", "second"]
