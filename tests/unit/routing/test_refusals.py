"""Which upstream errors refuse a key, and whether for every model or one: each provider's own answers,
parsed by its own adapter (recordings/refusals.json, from the providers' error docs)."""
from __future__ import annotations

import orjson
import pytest

from bifrost_proxy.errors import BadRequest, from_upstream_status
from bifrost_proxy.providers import adapter_for
from bifrost_proxy.providers.base import Call, Endpoint
from bifrost_proxy.routing.refusals import Refusal, refusal
from tests.fakes.recording import recording

CASES = orjson.loads(recording("refusals.json"))
SCOPES = {"key": Refusal.KEY, "model": Refusal.MODEL, None: None}


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_each_providers_refusals_are_read_as_the_key_s_or_the_model_s(case):
    call = Call(Endpoint.CHAT, case["model"], {"model": f"x/{case['model']}", "messages": []})
    error = adapter_for(case["wire"]).parse_error(call, case["status"], case.get("headers", {}),
                                                  orjson.dumps(case["body"]))
    assert refusal(error, case["model"]) is SCOPES[case["scope"]]


def test_a_401_refuses_the_key_whatever_its_message_says():
    assert refusal(from_upstream_status(401, "model gpt-4o: invalid key"), "gpt-4o") is Refusal.KEY


def test_a_403_or_404_naming_the_model_only_by_its_name_is_the_model_s():
    for status in (403, 404):
        assert refusal(from_upstream_status(status, "no access to 'llama-3.1-70b'"), "llama-3.1-70b") is Refusal.MODEL
        assert refusal(from_upstream_status(status, "no access to 'LLAMA-3.1-70B'"), "x", "llama-3.1-70b") \
            is Refusal.MODEL


def test_a_403_naming_nothing_is_the_key_s_and_a_404_naming_nothing_is_no_refusal():
    assert refusal(from_upstream_status(403, "forbidden"), "gpt-4o") is Refusal.KEY
    assert refusal(from_upstream_status(404, "bad field"), "gpt-4o") is None


@pytest.mark.parametrize("status", [400, 408, 413, 422, 429, 500, 503])
def test_other_statuses_are_never_refusals(status):
    assert refusal(from_upstream_status(status, "the model gpt-4o is busy"), "gpt-4o") is None
    assert refusal(BadRequest("model: x"), "x") is None
