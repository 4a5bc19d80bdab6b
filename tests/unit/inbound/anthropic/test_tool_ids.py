"""A provider's thought signature rides inside the tool_use id and comes back out exactly."""
from __future__ import annotations

import re

import pytest

from bifrost_proxy.inbound.anthropic.tool_ids import anthropic_tool_id, openai_tool_id

ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")  # what Anthropic accepts in a tool_use id


@pytest.mark.parametrize("signature", ["CiQB0e2Kb3Jk1ZxYq0p9mE1T0c2lnbmF0dXJlLWV4YW1wbGU=", "a+b/c==", "x", "é"])
def test_round_trip(signature):
    tool_id = anthropic_tool_id("call_1", {"google": {"thought_signature": signature}})
    assert ANTHROPIC_ID.match(tool_id)
    assert openai_tool_id(tool_id) == ("call_1", {"google": {"thought_signature": signature}})


def test_ids_without_a_signature_are_unchanged():
    assert anthropic_tool_id("call_1", None) == "call_1"
    assert anthropic_tool_id("call_1", {"google": {}}) == "call_1"
    assert openai_tool_id("toolu_01A09q90qw90lq917835lq9") == ("toolu_01A09q90qw90lq917835lq9", None)
    assert anthropic_tool_id(None, None).startswith("toolu_")


def test_ids_that_only_look_like_ours_are_left_alone():
    assert openai_tool_id("__sig_abc") == ("__sig_abc", None)
    assert openai_tool_id("call__sig_!!!") == ("call__sig_!!!", None)
    assert openai_tool_id("call__sig_gA") == ("call__sig_gA", None)  # not UTF-8 once decoded
