"""The ring of recent requests: fixed size, newest first, metadata only; listeners get each row once."""
from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from bifrost_proxy.appkeys import COST_USD, OUTCOME, REQUEST_ID, VIRTUAL_KEY
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.routing.dispatch import Outcome
from bifrost_proxy.ui.recorder import FIELDS, MAX_ERROR_KINDS, Recorder, as_row

T0 = 1_800_000_000.25


def served(path: str = "/v1/chat/completions", *, provider: str = "openai", key: str = "primary",
           attempts: int = 1, errors: tuple[str, ...] = (), usage: dict | None = None, first_byte: float | None = 0.004,
           stream: bool = False):
    request = make_mocked_request("POST", path)
    request[REQUEST_ID] = "req-1"
    outcome = Outcome()
    outcome.provider, outcome.model, outcome.key = provider, "gpt-4o-mini", key
    outcome.attempts, outcome.errors = attempts, list(errors)
    outcome.failed_on = [(provider, key, 429) for _ in errors]
    outcome.first_byte_at = None if first_byte is None else 100.0 + first_byte  # loop time; start is 100.0
    outcome.committed = stream
    if usage is not None:
        outcome.call = Call(Endpoint.CHAT, "gpt-4o-mini", {}, usage=usage)
    request[OUTCOME] = outcome
    return request


def test_a_row_holds_the_metadata_and_never_the_prompt_or_a_key_value():
    recorder = Recorder()
    recorder.governed = True  # governance leaves the virtual key's name and the cost on the request
    request = served(usage={"prompt_tokens": 11, "completion_tokens": 22}, errors=("rate_limit_error",), attempts=2)
    request[VIRTUAL_KEY] = "team-a"
    request[COST_USD] = 0.0012
    row = as_row(recorder.add(request, request[OUTCOME], 200, 0.050, 100.0, T0))
    assert row == {
        "time": T0, "request_id": "req-1", "method": "POST", "route": "/v1/chat/completions", "status": 200,
        "provider": "openai", "model": "gpt-4o-mini", "key": "primary", "virtual_key": "team-a", "attempts": 2,
        "fallbacks": 0, "errors": [{"provider": "openai", "key": "primary", "status": 429, "kind": "rate_limit_error"}],
        "stream": False, "ttfb_ms": 4.0, "duration_ms": 50.0,
        "tokens_in": 11, "tokens_out": 22, "cost": 0.0012,
    }
    assert recorder.series.summary(int(T0))["tokens_in"] == 11


def test_the_ring_keeps_the_last_capacity_rows_newest_first():
    recorder = Recorder(capacity=5)
    for i in range(12):
        request = served()
        request[REQUEST_ID] = f"req-{i}"
        recorder.add(request, request[OUTCOME], 200, 0.01, 100.0, T0 + i)
    assert [r["request_id"] for r in recorder.recent()] == ["req-11", "req-10", "req-9", "req-8", "req-7"]
    assert [r["request_id"] for r in recorder.recent(2)] == ["req-11", "req-10"]
    assert recorder.rows.count(None) == 0 and len(recorder.rows) == 5  # fixed size: nothing grows
    assert Recorder(capacity=5).recent() == []


def test_a_stream_is_counted_in_flight_from_its_first_byte_to_its_end():
    recorder = Recorder()
    # started at loop time 100, first byte 2.5 s later, ended 10 s after the start: open from T0-7.5 to T0
    request = served(first_byte=2.5, stream=True)
    row = as_row(recorder.add(request, request[OUTCOME], 200, 10.0, 100.0, T0))
    assert row["stream"] is True and row["ttfb_ms"] == 2500.0
    window = recorder.series.window(int(T0) + 1)
    open_seconds = [t for t, n in zip(window["t"], window["streams"]) if n]
    assert open_seconds == list(range(int(T0 - 7.5), int(T0) + 1))


def test_requests_without_an_upstream_are_recorded_but_the_dashboard_and_probes_are_not():
    recorder = Recorder()
    seen = []
    recorder.listeners.append(seen.append)
    for path in ("/ui/", "/ui/events", "/health", "/metrics"):
        recorder.record(make_mocked_request("GET", path), 200, 0.001, 100.0)
    recorder.record(make_mocked_request("POST", "/v1/nope"), 404, 0.001, 100.0)
    assert [r["route"] for r in seen] == ["/v1/nope"]
    assert seen[0]["provider"] is None and seen[0]["attempts"] == 0 and seen[0]["ttfb_ms"] is None
    assert recorder.recent() == seen


def test_listeners_get_each_row_once_in_order():
    recorder = Recorder()
    first, second = [], []
    recorder.listeners += [first.append, second.append]
    for status in (200, 502):
        recorder.record(served(), status, 0.01, 100.0)
    assert [r["status"] for r in first] == [200, 502] and first == second


def test_error_kinds_per_provider_are_counted_and_capped():
    recorder = Recorder()
    request = served(errors=("rate_limit_error", "rate_limit_error", "upstream_timeout"), attempts=4)
    recorder.add(request, request[OUTCOME], 200, 0.01, 100.0, T0)
    assert recorder.errors == {"openai": {"rate_limit_error": 2, "upstream_timeout": 1}}
    many = served(errors=tuple(f"kind-{i}" for i in range(MAX_ERROR_KINDS + 10)))
    recorder.add(many, many[OUTCOME], 502, 0.01, 100.0, T0)
    assert len(recorder.errors["openai"]) == MAX_ERROR_KINDS + 1 and recorder.errors["openai"]["other"] >= 10


def test_a_huge_route_or_model_is_cut_short():
    recorder = Recorder()
    request = served(path="/v1/" + "x" * 5000)
    request[OUTCOME].model = "m" * 5000
    row = as_row(recorder.add(request, request[OUTCOME], 404, 0.01, 100.0, T0))
    assert len(row["route"]) == 200 and len(row["model"]) == 200


def test_without_governance_the_virtual_key_and_cost_are_not_looked_up():
    recorder = Recorder()
    request = served()
    request[VIRTUAL_KEY] = "team-a"
    row = as_row(recorder.add(request, request[OUTCOME], 200, 0.01, 100.0, T0))
    assert row["virtual_key"] is None and row["cost"] is None


def test_a_failing_listener_never_reaches_the_request_and_is_logged_once(caplog):
    recorder = Recorder()

    def broken(row):
        raise RuntimeError("a bug in a listener")

    recorder.listeners.append(broken)
    for _ in range(3):
        recorder.record(served(), 200, 0.01, 100.0)  # does not raise
    assert recorder.count == 3
    assert [r.getMessage() for r in caplog.records if "cannot record" in r.getMessage()] == [
        "dashboard: cannot record a request; the dashboard may be incomplete"]


def test_the_ring_keeps_raw_tuples_in_field_order_and_readers_get_dicts():
    recorder = Recorder()
    request = served()
    raw = recorder.add(request, request[OUTCOME], 200, 0.0123456, 100.0, T0)
    assert isinstance(raw, tuple) and len(raw) == len(FIELDS)
    row = as_row(raw)
    assert list(row) == list(FIELDS) and row["duration_ms"] == 12.346
    assert recorder.recent() == [row]
