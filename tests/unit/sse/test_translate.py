"""The ``SSETranslator`` skeleton: frames per read, the held error, ``done`` and a stream cut short."""
from __future__ import annotations

import pytest

from bifrost_proxy.errors import GatewayError, UpstreamError
from bifrost_proxy.providers.base import SSE_MEDIA_TYPE
from bifrost_proxy.sse.decode import SSEEvent
from bifrost_proxy.sse.translate import SSETranslator

END = b"data: end\n\n"


class Echo(SSETranslator):
    """Echoes each event's data; ``bad`` is an error event, ``end`` ends the stream."""

    __slots__ = ("reads",)
    incomplete_message = "cut before end"

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def _frames(self, events: list[SSEEvent]) -> list[bytes]:
        self.reads += 1
        frames = []
        for event in events:
            if event.data == b"bad":
                self.error = UpstreamError("bad event", code="bad_event")
                break
            frames.append(event.data)
            if event.data == b"end":
                self.done = True
                break
        return frames


class Closing(Echo):
    """A wire format with no terminal event: a clean EOF writes the end."""

    __slots__ = ()

    def _finish_frames(self) -> list[bytes]:
        if self.reads < 2:
            raise self._incomplete()
        self.done = True
        return [b"closing"]


class Lenient(Echo):
    __slots__ = ()

    def _tail_error(self, error: GatewayError) -> GatewayError:
        return self._incomplete()


def test_fresh_state_and_slots():
    dec = Echo()
    assert (dec.done, dec.error, dec.media_type) == (False, None, SSE_MEDIA_TYPE)
    assert not hasattr(dec, "__dict__")


def test_each_read_is_one_call_into_frames_and_events_may_span_reads():
    dec = Echo()
    assert dec.feed(b"data: a\n\ndata: ") == [b"a"]
    assert dec.feed(b"b\n\n") == [b"b"]
    assert dec.feed(b"") == []
    assert dec.reads == 3


def test_done_stops_feed_and_finish():
    dec = Echo()
    assert dec.feed(b"data: a\n\n" + END + b"data: after\n\n") == [b"a", b"end"]
    assert dec.done
    assert dec.feed(b"data: later\n\n") == []
    assert dec.finish() == []
    assert dec.reads == 1


def test_frames_before_a_bad_event_are_returned_and_the_error_is_held():
    dec = Echo()
    assert dec.feed(b"data: a\n\ndata: bad\n\ndata: b\n\n") == [b"a"]
    held = dec.error
    assert held is not None and held.code == "bad_event"
    assert dec.feed(END) == []  # nothing more is translated once an event was bad
    assert dec.reads == 1 and not dec.done
    with pytest.raises(UpstreamError) as info:
        dec.finish()
    assert info.value is held


def test_a_bad_unterminated_last_event_is_raised_by_finish():
    dec = Echo()
    assert dec.feed(b"data: a\n\ndata: bad") == [b"a"]
    with pytest.raises(UpstreamError) as info:
        dec.finish()
    assert info.value.code == "bad_event"


def test_an_unterminated_last_event_that_ends_the_stream_completes_it():
    dec = Echo()
    assert dec.feed(b"data: a\n\n" + END.rstrip(b"\n")) == [b"a"]
    assert dec.finish() == [b"end"] and dec.done


@pytest.mark.parametrize("data", [b"", b"data: a\n\n", b"data: a\n\ndata: b"])
def test_a_stream_cut_before_its_end_is_incomplete(data):
    dec = Echo()
    dec.feed(data)
    with pytest.raises(UpstreamError) as info:
        dec.finish()
    assert (info.value.status, info.value.code, info.value.message) == (502, "stream_incomplete", "cut before end")
    assert not dec.done


def test_finish_frames_follow_the_last_events_frames():
    dec = Closing()
    assert dec.feed(b"data: a\n\ndata: b") == [b"a"]
    assert dec.finish() == [b"b", b"closing"] and dec.done
    assert dec.finish() == []


def test_finish_frames_may_refuse_a_clean_eof():
    with pytest.raises(UpstreamError) as info:
        Closing().finish()
    assert info.value.code == "stream_incomplete"


def test_tail_error_replaces_only_an_error_found_at_eof():
    dec = Lenient()
    dec.feed(b"data: bad")
    with pytest.raises(UpstreamError) as info:
        dec.finish()
    assert info.value.code == "stream_incomplete"
    held = Lenient()
    held.feed(b"data: bad\n\n")
    with pytest.raises(UpstreamError) as info:
        held.finish()
    assert info.value.code == "bad_event"
